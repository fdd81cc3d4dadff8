"""Whether a message to a person still holds when it is sent, and why not.

A message is made when its moment happens but sent later: a first attempt a moment after, a retry
seconds or hours after, a replay of the dead letters days after. By then the person may have
unsubscribed, or the ticket moved on: "3 people ahead of you" after "it's your turn", a link to
follow the place in line of a ticket already served. The delivery stage asks this at every
attempt (first tries, retries and replays alike) and drops what no longer holds.

Pure: the subscription's standing (store/watches.py: cancelled or not, the ticket's status and
queue as its watch last saw them, the newest closing messages made to it) is read once per batch,
and the time of the attempt (`now`) is the delivery stage's clock.

Some messages say a time that ends them: "back by 10:45" (`missed`, its `return_by`), a booking's
reminder or its confirmation ("Booked: Passports, December 6 at 10:30", their `slot_at`). Once
that time has passed the message is not sent: a retry at 10:50 would tell the person to hurry
back for a place already lost, or to a slot already begun. One made after its time (a booking of
a slot that had begun) says nothing to come, and is sent.

The watch is written after the messages it made are on the delivery topics, so a message may come
before the watch that made it: it is then news, and the watch's older status (a no-show that just
came back, a queue left by a transfer) does not make it obsolete. The closing messages come from
the delivery state, where every message is claimed before it is sent: a "3 ahead" that failed and
is retried after "it's your turn" was claimed is obsolete even before the watch says "called".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from notifications.messages import Message
from notifications.store.watches import CLOSING_TOPICS, Standing

# Messages about the ticket's place in line: they hold while it waits where it waited.
PLACE_TOPICS = frozenset({"ahead", "eta"})
# "It's your turn": it holds until the ticket is being served or done.
TURN_TOPICS = frozenset({"called", "recalled"})
# A ticket that left; nothing but the messages about its leaving (the feedback link, that its
# place is cancelled) go after.
LEFT = frozenset({"served", "cancelled"})
STILL_SENT_AFTER_LEAVING = frozenset({"served", "cancelled"})
# Where the ticket no longer waits in the line the message was about.
NOT_WAITING = frozenset({"called", "serving", "served", "cancelled", "no_show", "transferred"})
# "You're in line": it holds until the ticket is called (or left, said above).
CONFIRMATION = "subscribed"
CALLED = frozenset({"called", "serving", "no_show"})
_STATUS_WORDS = {"no_show": "marked no-show", "serving": "being served"}
# The messages whose data says when they stop holding: the field (an instant, RFC 3339), the field
# that says it as the person reads it, and why it is not sent after it.
DEADLINES: dict[str, tuple[str, str, str]] = {
    "missed": ("return_by", "return_time", "the time to come back by ({}) has passed"),
    "reminder": ("slot_at", "slot_time", "the booking's slot ({}) has begun"),
    CONFIRMATION: ("slot_at", "slot_time", "the booking's slot ({}) has begun"),
}


def obsolete(message: Message, standing: Standing, now: datetime) -> str | None:
    """Why this message to a person's subscription is not to be sent at `now`; None: send it."""
    if standing.cancelled:
        return "the subscription was cancelled"
    if (passed := _deadline_passed(message, now)) is not None:
        return passed
    status = standing.watch.status
    if status in LEFT and message.topic not in STILL_SENT_AFTER_LEAVING:
        return f"the ticket was {status}"
    if message.topic in PLACE_TOPICS:
        return _place_gone(message, standing)
    if message.topic in TURN_TOPICS:
        return _turn_gone(message, standing)
    if message.topic == "missed":
        return _missed_gone(message, standing)
    if message.topic == CONFIRMATION:
        return _confirmation_gone(message, standing)
    if message.topic == "moved" and _seen_by_watch(message, standing) == "later":
        return "the ticket was moved again since"
    return None


def _place_gone(message: Message, standing: Standing) -> str | None:
    closed = _closed_since(message, standing, CLOSING_TOPICS)
    if closed is not None:
        return f"the ticket was {closed} since"
    seen = _seen_by_watch(message, standing)
    if seen == "later":
        return "a later message of the same rule replaced it"
    if seen == "not yet":
        return None
    watch = standing.watch
    crossing = _crossing(message)
    if crossing is not None and not watch.within.get(crossing[0], True):
        return "the ticket is no longer within the rule's threshold"
    if watch.status in NOT_WAITING:
        return f"the ticket was {_STATUS_WORDS.get(watch.status, watch.status)}"
    if message.queue_id is not None and message.queue_id != standing.queue_id:
        return "the ticket was transferred to another queue"
    return None


def _turn_gone(message: Message, standing: Standing) -> str | None:
    if (closed := _closed_since(message, standing, ("served", "cancelled"))) is not None:
        return f"the ticket was {closed} since"
    seen = _seen_by_watch(message, standing)
    if seen == "later":
        return "a later message of the same rule replaced it"
    if seen == "yes" and standing.watch.status == "serving":
        return "the ticket is being served"
    return None


def _confirmation_gone(message: Message, standing: Standing) -> str | None:
    """A retried "you're in line" after "it's your turn" (made at or after it, or the watch
    saw the call) is not sent: where the ticket stood is no longer news."""
    closed = _closed_since(message, standing, CLOSING_TOPICS)
    if closed is not None:
        return f"the ticket was {closed} since"
    if standing.watch.status in CALLED:
        return f"the ticket was {_STATUS_WORDS.get(standing.watch.status, standing.watch.status)}"
    return None


def _missed_gone(message: Message, standing: Standing) -> str | None:
    """A "come back by 10:45" holds while the ticket is a no-show: not once
    it came back (it waits, or was called, again) or left (said above)."""
    seen = _seen_by_watch(message, standing)
    if seen == "later":
        return "a later message of the same rule replaced it"
    if seen == "yes" and standing.watch.status != "no_show":
        return "the ticket came back to the line"
    return None


def _deadline_passed(message: Message, now: datetime) -> str | None:
    """The message's own time is over (see the module's docstring); a message without one (made
    before they carried it, or a no-show given no grace) holds."""
    if (deadline := DEADLINES.get(message.topic)) is None:
        return None
    field, words, why = deadline
    try:
        until = datetime.fromisoformat(str(message.data[field]))
    except (KeyError, ValueError):
        return None
    if message.created_at >= until or now < until:
        return None
    return why.format(message.data.get(words) or message.data[field])


def _seen_by_watch(message: Message, standing: Standing) -> Literal["not yet", "yes", "later"]:
    """Whether the watch has folded the moment that made this message: "not yet" (the message
    is news: what the watch says is older than it), "later" (its rule fired again since), or
    "yes" (also for a message whose id names no crossing)."""
    crossing = _crossing(message)
    if crossing is None:
        return "yes"
    name, number = crossing
    fired = standing.watch.fired.get(name, 0)
    return "not yet" if fired < number else "later" if fired > number else "yes"


def _closed_since(message: Message, standing: Standing, topics: Iterable[str]) -> str | None:
    """The closing topic (called, served...) of a message made to the subscription at or after
    this one (the same instant counts: the ticket was called then), if any."""
    for topic in topics:
        made = standing.closing.get(topic)
        if made is not None and made >= message.created_at:
            return topic
    return None


def _crossing(message: Message) -> tuple[str, int] | None:
    """The rule's name and crossing of a due notification's id, `subscription:rule:crossing`
    (notifications/rules.py); None for other messages (announcements, reminders)."""
    parts = message.id.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != message.subscription_id or not parts[2].isdigit():
        return None
    return parts[1], int(parts[2])
