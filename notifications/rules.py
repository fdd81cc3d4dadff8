"""What is due: pure rules that turn a ticket's moments into the messages its subscriber asked for.

A moment is what the positions topic says of a ticket after a change (status, place, counter, the
estimated call); the notifier folds a ticket's moments in order (the topic is keyed by ticket id)
through its subscriptions' watches. No I/O and no clock: the moment's own time is the only one.

* A threshold ("3 people ahead", "called within 10 minutes") fires when it is crossed, not when it
  is hit: a ticket that jumps from 5 ahead to 1 still gets "3 ahead", once.
* Once fired, a rule is disarmed until the ticket moves back out of it (a priority change ahead
  of it, say); crossing again fires again, as a new message.
* The confirmation sent when a subscription is made ("you're in line, 2 ahead") is such a
  crossing for the rules the ticket is already within: the watch starts inside them.
* A ticket that left (served or cancelled) gets nothing more, but for the message about its
  leaving that it asked for (the feedback link after service; that its place is cancelled, by
  staff or by the person: a confirmation). A no-show may still come back
  (it is told it missed its turn, and until when it may return), and a transferred ticket waits
  on in its new queue: both are still followed.
* A move to another queue (a transfer, a merge, a split) is told once, under the number the
  person knows and the one it has now; the place rules start over in the new line. The moment
  of the queue it left may come after the one of the queue it joined (two workers announce
  them): a moment of another queue than the watch's, but for the move itself, is an echo of
  the past and changes nothing.
* Every message has a deterministic id (subscription, rule, crossing): a moment folded twice
  (Kafka redelivers) makes the same message, which the delivery stage sends once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

RuleKind = Literal[
    "ahead",
    "eta",
    "called",
    "recalled",
    "returned",
    "missed",
    "moved",
    "served",
    "paused",
    "resumed",
    "closed",
    "cancelled",
    "subscribed",
]
# A rule about the ticket's place waits for its subscriber's threshold; the others for an event.
THRESHOLD_RULES: frozenset[str] = frozenset({"ahead", "eta"})
# What each event rule waits for: the cause (event type) and the status it leaves the ticket in.
# Both, because a moment also announces tickets that only moved because of another's event (a
# ticket that moves up when another is called has the cause TicketCalled and stays waiting).
EVENT_RULES: dict[str, tuple[str, str]] = {
    "called": ("TicketCalled", "called"),
    "recalled": ("TicketRecalled", "called"),
    "returned": ("TicketReturned", "waiting"),
    "missed": ("TicketNoShow", "no_show"),
    "served": ("TicketServed", "served"),
    "cancelled": ("TicketCancelled", "cancelled"),
}
# Told once, when the subscription is made (notifications/confirmation.py), not by a moment:
# "A-006: you're in line at Passports, 2 ahead". When it tells the place, the threshold rules
# it is within count as crossed (`Watch.told`): "2 ahead" is not said again right after.
SUBSCRIBED: Final = "subscribed"
# The moment that puts a ticket in another queue's line (a transfer, a merge or a split).
MOVED_IN = "TicketTransferredIn"
LEFT: frozenset[str] = frozenset({"served", "cancelled"})
# Rules about the ticket's queue, not the ticket: told to everyone still in it when it happens.
# "resumed" keeps the promise the "paused" message makes ("we'll let you know when it moves").
QUEUE_RULES: dict[str, str] = {
    "paused": "QueuePaused",
    "resumed": "QueueResumed",
    "closed": "QueueClosed",
}


@dataclass(frozen=True, slots=True)
class Rule:
    kind: RuleKind
    # "ahead": people ahead at most; "eta": seconds until the estimated call at most.
    threshold: int | None = None

    def __post_init__(self) -> None:
        if (self.kind in THRESHOLD_RULES) != (self.threshold is not None):
            raise ValueError(f"rule {self.kind!r}: a threshold iff it is ahead or eta")
        if self.threshold is not None and self.threshold < 0:
            raise ValueError("a threshold is not negative")

    @property
    def name(self) -> str:
        return self.kind if self.threshold is None else f"{self.kind}-{self.threshold}"


@dataclass(frozen=True, slots=True)
class Moment:
    """A ticket after one change, as the positions topic announces it."""

    ticket_id: str
    queue_id: str  # the queue that holds the ticket (a transfer moves it)
    version: int  # that queue's stream version of the change
    at: datetime  # when it happened (the event's time)
    cause: str  # the event type that made it
    status: str
    position: int | None  # 1 = next; None unless waiting
    counter: str | None = None
    call_p50_at: datetime | None = None  # the estimated call, when it was recomputed
    call_p10_at: datetime | None = None
    call_p90_at: datetime | None = None
    number: str = ""  # the ticket's number, as printed
    # A cancel's who (TicketCancelled.by: customer, staff, closing), known when the notifier
    # folds the event itself (notifier.py _for_left); None from the positions topic.
    cancelled_by: str | None = None


@dataclass(frozen=True, slots=True)
class Due:
    message_id: str
    subscription_id: str
    ticket_id: str
    rule: Rule
    moment: Moment
    previous_number: str | None = None  # a move's: the number the person knew (None: unknown)


@dataclass(slots=True)
class Watch:
    """One subscription's memory of its ticket: which rules may fire, how often each did."""

    subscription_id: str
    rules: tuple[Rule, ...]
    fired: dict[str, int] = field(default_factory=dict)  # rule name -> crossings so far
    within: dict[str, bool] = field(default_factory=dict)  # threshold rule -> inside it now
    left: bool = False
    status: str | None = None  # as the last moment left it
    # The last version folded per queue (versions are per queue; a redelivered moment is older).
    versions: dict[str, int] = field(default_factory=dict)
    queue_id: str | None = None  # the queue the ticket is in, as far as the watch knows
    number: str | None = None  # its number there, when a moment has named it

    def step(self, moment: Moment) -> list[Due]:
        """Fold one moment; the messages it makes due (none for a moment already folded)."""
        if moment.version <= self.versions.get(moment.queue_id, 0) or self.left:
            return []
        self.versions[moment.queue_id] = moment.version
        if moment.cause == MOVED_IN:
            due = self._moved(moment)
        elif self.queue_id is not None and moment.queue_id != self.queue_id:
            return []  # the queue it left, announced after the move: nothing of it holds
        else:
            due = [
                self._fire(rule, moment)
                for rule in self.rules
                if (rule.kind in THRESHOLD_RULES or rule.kind in EVENT_RULES)
                and self._crossed(rule, moment)
            ]  # fmt: skip
        self.left = moment.status in LEFT
        self.status = moment.status
        self.queue_id = moment.queue_id
        self.number = moment.number or self.number
        return due

    def told(self, moment: Moment) -> None:
        """The ticket's place as a confirmation told it (`moment`: the read side's view when the
        subscription was made): each threshold rule the ticket is within counts as crossed, so
        it fires again only after the ticket moved back out (each rule fires once per
        crossing), and moments up to that version are the past the message already told."""
        self.versions[moment.queue_id] = max(moment.version, self.versions.get(moment.queue_id, 0))
        self.queue_id, self.status = moment.queue_id, moment.status
        self.number = moment.number or self.number
        for rule in self.rules:
            if rule.kind in THRESHOLD_RULES and (inside := _inside(rule, moment)) is not None:
                self.within[rule.name] = inside

    def _moved(self, moment: Moment) -> list[Due]:
        """The ticket joined another queue's line: "moved" is told once (not to a subscription
        made in that queue already), and the place rules start over in the new line. When the
        move is told, its message says the place; the place rules then fire only as the new
        line moves (not a second message for the same moment)."""
        told = [
            self._fire(rule, moment, previous=self.number)
            for rule in self.rules
            if rule.kind == "moved" and moment.queue_id != self.queue_id
        ]
        due = list(told)
        for rule in self.rules:
            if rule.kind not in THRESHOLD_RULES:
                continue
            self.within.pop(rule.name, None)  # another line: crossed again, told again
            if not told:
                due += [self._fire(rule, moment)] if self._crossed(rule, moment) else []
            elif (inside := _inside(rule, moment)) is not None:
                self.within[rule.name] = inside
        return due

    def queue_event(self, moment: Moment) -> list[Due]:
        """A change of the ticket's whole queue (`moment.cause` QueuePaused, QueueResumed or
        QueueClosed, the ticket's own fields as the watch last saw them): due when the ticket is
        still in line."""
        # Its own record of versions: the queue-events topic is read beside the positions topic,
        # and an older moment of the ticket may still be on its way.
        seen = f"queue:{moment.queue_id}"
        if self.left or moment.version <= self.versions.get(seen, 0):
            return []
        wanted = [r for r in self.rules if QUEUE_RULES.get(r.kind) == moment.cause]
        if not wanted:
            return []
        self.versions[seen] = moment.version
        return [self._fire(rule, moment) for rule in wanted]

    def _crossed(self, rule: Rule, moment: Moment) -> bool:
        if rule.kind not in THRESHOLD_RULES:
            cause, status = EVENT_RULES[rule.kind]
            if rule.kind == "returned" and self.status != "no_show":
                return False  # another ticket's return moved this one
            return moment.cause == cause and moment.status == status
        inside = _inside(rule, moment)
        if inside is None:  # the moment says nothing about it (no range recomputed)
            return False
        was = self.within.get(rule.name, False)
        self.within[rule.name] = inside
        return inside and not was

    def _fire(self, rule: Rule, moment: Moment, previous: str | None = None) -> Due:
        crossing = self.fired.get(rule.name, 0) + 1
        self.fired[rule.name] = crossing
        message_id = f"{self.subscription_id}:{rule.name}:{crossing}"
        return Due(message_id, self.subscription_id, moment.ticket_id, rule, moment, previous)


def _inside(rule: Rule, moment: Moment) -> bool | None:
    """Whether the ticket is within the rule's threshold now; None: cannot tell from this."""
    assert rule.threshold is not None
    if moment.status != "waiting" or moment.position is None:
        return False
    if rule.kind == "ahead":
        return moment.position - 1 <= rule.threshold
    if moment.call_p50_at is None:
        return None
    return (moment.call_p50_at - moment.at).total_seconds() <= rule.threshold
