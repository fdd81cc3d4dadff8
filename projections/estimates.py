"""Wait-time estimates on the read side: each queue's estimators, folded beside its state.

A `QueueEstimates` folds the same events as the queue's `QueueState`, from the stream's first
event, through a `Selector` (domain/estimation). It keeps three things for the read models:

* deterministic facts, a function of the events alone (so a rebuild writes the same bytes and
  `vq projections check` compares them): per ticket the range served when it joined the queue
  and, once called, how long it really waited; per queue the accuracy figures per estimator;
* the current range of every waiting ticket (its "eta"): the P10/P50/P90 moments it should be
  called, as the estimators see the queue now. These move with the line, so they are refreshed
  within a bounded budget (never a cost that grows with the length of the line): the tickets
  a batch touched, always; and at most every REFRESH_EVERY_S of the queue's time, the first few
  once a call moved the line (they are next; their range matters most) and a few more from a
  cursor walking the line, so every range is refreshed in turn.
  An eta is absolute (moments, not durations), so it stays true as time passes without a write.
  The stream processor keeps in memory only the ranges it computed itself (Redis holds them
  all); a rebuild computes the first EXACT_FILL of a line and, further back, anchors spaced
  geometrically with the ranges between them interpolated (marked so), which keeps a rebuild of
  a line of 100,000 at about a second of estimating.

Etas depend on when a batch was cut, so the check compares which tickets have one, not the
values; everything else here is compared byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from domain.estimation import SERVED, Estimate, Selector
from domain.estimation.model import HISTORY
from domain.estimation.outlook import newcomer as hypothetical
from domain.events import (
    AppointmentCheckedIn,
    QueueEvent,
    TicketCalled,
    TicketEnqueued,
    TicketTransferredIn,
)
from domain.state import QueueState, line_key

# At most this often (seconds of the queue's own time), the first HEAD_REFRESH of the line (when
# a call moved it) and ROLLING_REFRESH more from a cursor that walks the line, front to back and
# round again, get a fresh range. A range is a set of moments: a line that moves as expected
# leaves them true, so refreshing after every call would spend a millisecond a ticket for little.
REFRESH_EVERY_S = 30.0
HEAD_REFRESH = 3
ROLLING_REFRESH = 10
# The eta hash field holding the queue summary's estimate (ticket ids are UUIDs: no clash).
NEWCOMER = "newcomer"
# The summary's estimate (the longest projection there is: the back of the line) is computed
# again when the queue's status or settings change, when the line grew or shrank by a tenth
# (by one, up to ten waiting), or NEWCOMER_EVERY_S of the queue's time after the last one; in
# between, the range computed last is served with the people ahead counted now.
NEWCOMER_EVERY_S = 5.0
# A rebuild estimates this many from the front of each line one by one; further back, anchors
# this factor apart, and the ranges between them interpolated.
EXACT_FILL = 1000
ANCHOR_STEP = 1.2


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def eta_of(estimate: Estimate, version: int) -> dict[str, Any]:
    """A range as moments: when the ticket should be called (P10, P50, P90)."""
    at = estimate.at
    return {
        "p10_at": _iso(at + timedelta(seconds=estimate.p10)),
        "p50_at": _iso(at + timedelta(seconds=estimate.p50)),
        "p90_at": _iso(at + timedelta(seconds=estimate.p90)),
        "ahead": estimate.ahead,
        "estimated_at": _iso(at),
        "version": version,
        "estimator": estimate.estimator,
        "basis": estimate.basis,
    }


def promise_of(estimate: Estimate) -> dict[str, Any]:
    """The range given when the ticket joined, in whole seconds from then."""
    return {
        "p10_seconds": round(estimate.p10),
        "p50_seconds": round(estimate.p50),
        "p90_seconds": round(estimate.p90),
        "ahead": estimate.ahead,
        "estimator": estimate.estimator,
        "basis": estimate.basis,
    }


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What the ticket's view shows about its estimate (a function of the events)."""

    promised: dict[str, Any] | None
    waited_seconds: float | None


class QueueEstimates:
    def __init__(self) -> None:
        self.selector = Selector.default()
        self.promised: dict[str, Estimate] = {}  # served at enqueue, until the ticket is evicted
        self.waited: dict[str, float] = {}  # enqueue to first call, seconds
        self.etas: dict[str, dict[str, Any]] = {}  # ranges computed here, of tickets still waiting
        self._touched: set[str] = set()
        self._dropped: set[str] = set()
        self._called = False
        self._cursor = 0
        self._now: datetime | None = None  # the time of the last event
        self._refreshed: datetime | None = None  # the last refresh of the head and the cursor
        # per class: (when, line length, status, settings) it was computed for, and the range
        self._newcomers: dict[str, tuple[tuple[datetime, int, str, object], Estimate | None]] = {}

    def observe(self, state: QueueState, event: QueueEvent) -> None:
        """Fold one event; `state` is the queue after `evolve` applied it."""
        settled = self.selector.observe(state, event).get(SERVED)
        self._now = event.at
        ticket_id: str | None = getattr(event, "ticket_id", None)
        if isinstance(event, TicketEnqueued | TicketTransferredIn | AppointmentCheckedIn):
            given = self.selector.book.given_.get(event.ticket_id)
            served = given.estimates.get(SERVED) if given is not None else None
            if served is not None:
                self.promised[event.ticket_id] = served
                self.waited.pop(event.ticket_id, None)
        elif isinstance(event, TicketCalled):
            self._called = True
            if settled is not None:  # the first call since it joined: the book measured it
                self.waited[event.ticket_id] = settled.wait
        if ticket_id is not None:
            ticket = state.tickets.get(ticket_id)
            if ticket is not None and ticket.status == "waiting":
                self._touched.add(ticket_id)
            else:  # out of the line (or never in it): whatever range Redis has goes
                self.etas.pop(ticket_id, None)
                self._dropped.add(ticket_id)
        for evicted in state.last_evicted:
            self.promised.pop(evicted, None)
            self.waited.pop(evicted, None)
            self.etas.pop(evicted, None)

    def facts(self, ticket_id: str) -> TicketFacts:
        promised = self.promised.get(ticket_id)
        waited = self.waited.get(ticket_id)
        return TicketFacts(
            None if promised is None else promise_of(promised),
            None if waited is None else round(waited, 1),
        )

    def _estimate(self, state: QueueState, ticket_id: str) -> dict[str, Any] | None:
        estimate = self.selector.estimate(state, ticket_id)
        return None if estimate is None else eta_of(estimate, state.version)

    def refresh(self, state: QueueState) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """Recompute the ranges this batch owes (bounded); returns (new ranges, tickets that
        no longer have one). Resets the batch's bookkeeping."""
        wanted = [
            t for t in self._touched if t in state.tickets and state.tickets[t].status == "waiting"
        ]
        now, last = self._now, self._refreshed
        due = now is not None and (last is None or (now - last).total_seconds() >= REFRESH_EVERY_S)
        if due and self._called:
            wanted += [key[3] for key in state.waiting.islice(0, HEAD_REFRESH)]
        if due and state.waiting:
            self._refreshed = now
            if self._cursor >= len(state.waiting):
                self._cursor = 0
            end = self._cursor + ROLLING_REFRESH
            wanted += [key[3] for key in state.waiting.islice(self._cursor, end)]
            self._cursor = end
        fresh: dict[str, dict[str, Any]] = {}
        for ticket_id in dict.fromkeys(wanted):
            eta = self._estimate(state, ticket_id)
            if eta is not None:
                fresh[ticket_id] = self.etas[ticket_id] = eta
        dropped = self._dropped - set(fresh)
        self._touched, self._dropped = set(), set()
        if due:
            self._called = False  # else a call waits for the next due refresh
        return fresh, dropped

    def loaded(self) -> None:
        """The queue was folded up to the version Redis has, whose ranges Redis holds: only
        what comes next is owed."""
        self._touched, self._dropped, self._called = set(), set(), False

    def fill(self, state: QueueState) -> None:
        """A range for every waiting ticket, for a rebuild (see the module's docstring)."""
        self.loaded()
        ids = [key[3] for key in state.waiting]
        anchors = list(range(min(EXACT_FILL, len(ids))))
        while anchors and anchors[-1] < len(ids) - 1:
            anchors.append(min(max(int(anchors[-1] * ANCHOR_STEP), anchors[-1] + 1), len(ids) - 1))
        self.etas = {}
        for index in anchors:
            eta = self._estimate(state, ids[index])
            if eta is not None:
                self.etas[ids[index]] = eta
        for low, high in pairwise(anchors):
            first, last = self.etas.get(ids[low]), self.etas.get(ids[high])
            if first is None or last is None:
                continue
            for index in range(low + 1, high):
                self.etas[ids[index]] = _between(first, last, (index - low) / (high - low), index)

    def newcomer(self, state: QueueState, priority: str | None = None) -> dict[str, Any] | None:
        """The queue summary's estimate: the range of somebody joining now in `priority`
        (default: the queue's default class), a hypothetical ticket at the back of that class,
        with the people it would find ahead. Its `basis` says what it rests on: the queue's
        history, or FEW_SERVICES while the first services are still setting the scale."""
        if state.status == "closed" or self._now is None:
            return None
        chosen = priority or state.config.default_priority
        waiting = len(state.waiting)
        kept = self._newcomers.get(chosen)
        if kept is None or _stale(kept[0], self._now, waiting, state):
            estimate = self.selector.newcomer(state, chosen, self._now)
            kept = self._newcomers[chosen] = (
                (self._now, waiting, state.status, state.config),
                estimate,
            )
        estimate = kept[1]
        if estimate is None:
            return None
        ahead = estimate.ahead
        if kept[0][1] != waiting:  # the range computed last; the people ahead counted now
            ahead = state.waiting.bisect_left(
                line_key(state, hypothetical(state, chosen, self._now))
            )
        return {**eta_of(estimate, state.version), "ahead": ahead}

    def accuracy(self, state: QueueState) -> dict[str, Any]:
        """Per estimator, every estimate given at enqueue against the real wait."""
        figures = sorted(self.selector.accuracy(), key=lambda f: f.estimator)
        return {
            "queue_id": state.queue_id,
            "version": state.version,
            "serving": self.selector.choice,
            "served_by": dict(sorted(self.selector.served_by.items())),
            "estimators": [f.as_dict() for f in figures],
        }


def promised(estimates: QueueEstimates, ticket_id: str | None) -> Estimate | None:
    """The range the ticket was shown when it joined the queue, while it is remembered."""
    return estimates.promised.get(ticket_id) if ticket_id else None


def _stale(
    basis: tuple[datetime, int, str, object], now: datetime, waiting: int, state: QueueState
) -> bool:
    at, length, status, config = basis
    return (
        status != state.status
        or config is not state.config
        or abs(waiting - length) >= max(1, length // 10)
        or (now - at).total_seconds() >= NEWCOMER_EVERY_S
    )


def _between(
    first: dict[str, Any], last: dict[str, Any], share: float, ahead: int
) -> dict[str, Any]:
    """The range of a ticket between two estimated ones, moment by moment, `share` of the way."""
    out = {**first, "ahead": ahead, "interpolated": True}
    for level in ("p10_at", "p50_at", "p90_at"):
        low, high = datetime.fromisoformat(first[level]), datetime.fromisoformat(last[level])
        out[level] = _iso(low + (high - low) * share)
    return out


def shown_joining(eta: dict[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    """The range of somebody joining now (a queue's "wait if you join now"), as the API shows it:
    the waits it was estimated with, from now. A ticket's range is moments (the ticket joined
    then, and each second that passes is one it waited); a newcomer joins whenever it is read,
    behind the same people while nothing happened, so its range does not run down to "any
    moment now" on a line that is quiet between two events."""
    if eta is None:
        return None
    since = max(0.0, (now - datetime.fromisoformat(eta["estimated_at"])).total_seconds())
    moved = {
        f"{level}_at": _iso(datetime.fromisoformat(eta[f"{level}_at"]) + timedelta(seconds=since))
        for level in ("p10", "p50", "p90")
    }
    return shown({**eta, **moved}, now)


def shown(eta: dict[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    """A stored range as the API shows it: the moments, and the seconds left until each (never
    below zero: a ticket past its P90 and not yet called is "any moment now")."""
    if eta is None:
        return None
    left = {}
    for level in ("p10", "p50", "p90"):
        moment = datetime.fromisoformat(eta[f"{level}_at"])
        left[f"{level}_seconds"] = max(0, round((moment - now).total_seconds()))
    return {
        **left,
        "p10_at": eta["p10_at"],
        "p50_at": eta["p50_at"],
        "p90_at": eta["p90_at"],
        "estimated_at": eta["estimated_at"],
        "estimator": eta["estimator"],
        "basis": eta.get("basis", HISTORY),
    }
