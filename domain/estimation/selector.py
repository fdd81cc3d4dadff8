"""Per queue: every estimator observes every event, each is scored, the better one is served.

The `Selector` is what the stream processors hold per queue. It feeds each event to its members
(and to shadows, which are scored but never served: the simulator's oracle), records every
member's range at enqueue in an `AccuracyBook`, and on each call updates each member's recent
error on the two promises a ticket page makes: the wait lands within +/-20% of P50, and inside
P10..P90 four times in five. Recent error = the share of recent waits outside +/-20% of P50 +
the distance of the recent P10..P90 coverage from 80% (exponentially weighted over about the
last SCORE_MEMORY calls). It serves the member with the lower recent error; a member that is
not `ready` (too few labels) is served only if no other is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from domain.estimation.accuracy import AccuracyBook, AccuracyFigures, Outcome
from domain.estimation.learned import LearnedEstimator
from domain.estimation.model import Estimate, Estimator
from domain.estimation.outlook import newcomer as hypothetical
from domain.estimation.rules import RuleEstimator
from domain.estimation.signals import QueueSignals
from domain.estimation.stats import Ewma
from domain.events import (
    AppointmentCheckedIn,
    QueueEvent,
    TicketEnqueued,
    TicketTransferredIn,
)
from domain.state import QueueState, TicketState

SERVED = "served"
# Calls over which the recent error is weighted.
SCORE_MEMORY = 200
# The share of waits an honest P10..P90 range holds.
COVERAGE_TARGET = 0.8
# Switching needs the challenger to be this much better (no flapping on noise).
HYSTERESIS = 0.97


def _ready(member: Estimator) -> bool:
    return bool(getattr(member, "ready", True))


class Selector:
    name = SERVED

    def __init__(self, members: Sequence[Estimator], shadows: Sequence[Estimator] = ()) -> None:
        if not members:
            raise ValueError("a selector needs at least one estimator")
        self.members = list(members)
        self.shadows = list(shadows)
        self.book = AccuracyBook()
        self.misses = {m.name: Ewma(1.0 / SCORE_MEMORY, 0.5) for m in self.members}
        self.coverage = {m.name: Ewma(1.0 / SCORE_MEMORY, COVERAGE_TARGET) for m in self.members}
        self.choice = self.members[0].name
        self.served_by: dict[str, int] = {}  # enqueue estimates served, by member

    @classmethod
    def default(cls, shadows: Sequence[Estimator] = ()) -> Selector:
        """The rules first (served while the learned one has too few labels), then the data."""
        signals = QueueSignals()  # shared: both fold the same facts, and project once
        return cls([RuleEstimator(signals), LearnedEstimator(signals)], shadows)

    def _member(self, name: str) -> Estimator:
        return next(m for m in self.members if m.name == name)

    def observe(self, state: QueueState, event: QueueEvent) -> dict[str, Outcome]:
        """Fold one event (`state` is the queue after `evolve` applied it): every member and
        shadow observes it, an enqueue records their ranges, a call scores them. Returns the
        outcomes the event settled (a ticket's first call), by estimator name."""
        for member in (*self.members, *self.shadows):
            member.observe(state, event)
        if isinstance(event, TicketEnqueued | TicketTransferredIn | AppointmentCheckedIn):
            self._record(state, event.ticket_id, event.at)
        outcomes = self.book.observe(state, event)
        if outcomes:
            for name in self.misses:
                outcome = outcomes.get(name)
                if outcome is not None:
                    self.misses[name].add(0.0 if outcome.within else 1.0)
                    self.coverage[name].add(1.0 if outcome.inside else 0.0)
            self._choose()
        return outcomes

    def error(self, name: str) -> float:
        """The recent error of a member (lower is better)."""
        return self.misses[name].value + abs(self.coverage[name].value - COVERAGE_TARGET)

    def _record(self, state: QueueState, ticket_id: str, at: datetime) -> None:
        estimates: dict[str, Estimate] = {}
        for member in (*self.members, *self.shadows):
            estimate = member.estimate(state, ticket_id, at)
            if estimate is not None:
                estimates[member.name] = estimate
        served = estimates.get(self.choice)
        if served is not None:
            estimates[SERVED] = served
            self.served_by[served.estimator] = self.served_by.get(served.estimator, 0) + 1
        if estimates:
            self.book.given(ticket_id, at, estimates)

    def _choose(self) -> None:
        ready = [m for m in self.members if _ready(m)]
        if not ready:
            return
        best = min(ready, key=lambda m: self.error(m.name))
        usable = self.choice in {m.name for m in ready}
        if not usable or self.error(best.name) < HYSTERESIS * self.error(self.choice):
            self.choice = best.name

    def estimate(
        self,
        state: QueueState,
        ticket_id: str,
        at: datetime | None = None,
        newcomer: TicketState | None = None,
    ) -> Estimate | None:
        """The served range (its `estimator` says which member gave it); the others back it up."""
        order = [self._member(self.choice)] + [m for m in self.members if m.name != self.choice]
        for member in order:
            estimate = member.estimate(state, ticket_id, at, newcomer)
            if estimate is not None:
                return estimate
        return None

    def newcomer(
        self, state: QueueState, priority: str | None = None, at: datetime | None = None
    ) -> Estimate | None:
        """The served range of somebody who joined now in `priority` (default: the queue's
        default class): a hypothetical ticket at the back of that class, counted as the line
        and the counters stand (not the range of whoever is last in line, who may sit in
        another class or have waited long already)."""
        now = at or self._last_at()
        if now is None:
            return None
        chosen = priority or state.config.default_priority
        return self.estimate(state, "", now, hypothetical(state, chosen, now))

    def _last_at(self) -> datetime | None:
        """The time of the last event the members saw."""
        times = [
            s.last_at
            for m in self.members
            if (s := getattr(m, "signals", None)) is not None and s.last_at is not None
        ]
        return max(times, default=None)

    def accuracy(self) -> list[AccuracyFigures]:
        """Figures per estimator: the members, the shadows and `served` (what people saw)."""
        return [replace(f) for f in self.book.figures.values()]
