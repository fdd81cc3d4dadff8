"""Accuracy bookkeeping: every estimate given at enqueue, measured against the real wait.

Per ticket the book keeps the range each estimator gave when the ticket joined the queue; when
the ticket is called it scores each one against the real wait (enqueue to first call). Per
estimator it keeps: mean absolute error of P50, the share of waits within +/-20% of P50, and the
share inside P10..P90 (an honest 80% range lands there about 80% of the time). Tickets that are
never called (cancelled, walked away and cancelled, transferred) are excluded from the accuracy
but counted. Pure: the book changes only with the events it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from domain.estimation.model import Estimate
from domain.events import QueueEvent, TicketCalled, TicketCancelled, TicketTransferredOut
from domain.state import QueueState

WITHIN = 0.2
# The seeds' promise: nobody waits more than twice the time they were told (200 %). A wait
# breaks it when it is over twice the P50 given at enqueue and over it by more than a minute
# too (told "0-1 min", waiting 2 is no broken promise).
OVER = 2.0
OVER_SLACK_S = 60.0


def over_twice(wait: float, p50: float) -> bool:
    """A wait that broke the promise of the P50 given at enqueue (OVER, OVER_SLACK_S)."""
    return wait > max(OVER * p50, p50 + OVER_SLACK_S)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One estimate given at enqueue against the wait that followed."""

    estimate: Estimate
    wait: float

    @property
    def error(self) -> float:
        return abs(self.wait - self.estimate.p50)

    @property
    def within(self) -> bool:
        p50 = self.estimate.p50
        return (1.0 - WITHIN) * p50 <= self.wait <= (1.0 + WITHIN) * p50

    @property
    def inside(self) -> bool:
        return self.estimate.p10 <= self.wait <= self.estimate.p90

    @property
    def over_twice(self) -> bool:
        return over_twice(self.wait, self.estimate.p50)


@dataclass(slots=True)
class AccuracyFigures:
    estimator: str
    estimated: int = 0  # tickets given an estimate at enqueue
    called: int = 0  # ... and called since: the base of the figures below
    cancelled: int = 0
    transferred: int = 0
    abs_error: float = 0.0
    within_count: int = 0
    inside_count: int = 0
    over_twice_count: int = 0

    @property
    def waiting(self) -> int:
        return self.estimated - self.called - self.cancelled - self.transferred

    @property
    def mae(self) -> float | None:
        return self.abs_error / self.called if self.called else None

    @property
    def within(self) -> float | None:
        return self.within_count / self.called if self.called else None

    @property
    def coverage(self) -> float | None:
        return self.inside_count / self.called if self.called else None

    @property
    def over_twice(self) -> float | None:
        return self.over_twice_count / self.called if self.called else None

    def add(self, outcome: Outcome) -> None:
        self.called += 1
        self.abs_error += outcome.error
        self.within_count += outcome.within
        self.inside_count += outcome.inside
        self.over_twice_count += outcome.over_twice

    def as_dict(self) -> dict[str, object]:
        return {
            "estimator": self.estimator,
            "estimated": self.estimated,
            "called": self.called,
            "cancelled": self.cancelled,
            "transferred": self.transferred,
            "waiting": self.waiting,
            "mae_seconds": None if self.mae is None else round(self.mae, 1),
            "within_20_percent": self.within,
            "p10_p90_coverage": self.coverage,
            "over_twice_p50": self.over_twice,
        }


@dataclass(slots=True)
class _Given:
    at: datetime
    estimates: dict[str, Estimate]


@dataclass(slots=True)
class AccuracyBook:
    given_: dict[str, _Given] = field(default_factory=dict)
    figures: dict[str, AccuracyFigures] = field(default_factory=dict)

    def _figures(self, name: str) -> AccuracyFigures:
        found = self.figures.get(name)
        if found is None:
            found = self.figures[name] = AccuracyFigures(name)
        return found

    def given(self, ticket_id: str, at: datetime, estimates: Mapping[str, Estimate]) -> None:
        """The ranges given when `ticket_id` joined at `at`, by estimator name."""
        if ticket_id in self.given_:
            return  # the first estimate at enqueue is the one that is judged
        self.given_[ticket_id] = _Given(at, dict(estimates))
        for name in estimates:
            self._figures(name).estimated += 1

    def observe(self, state: QueueState, event: QueueEvent) -> dict[str, Outcome]:
        """Fold one event; returns the outcomes it settled (a call), by estimator name."""
        if isinstance(event, TicketCalled):
            given = self.given_.pop(event.ticket_id, None)
            if given is None:
                return {}
            wait = max((event.at - given.at).total_seconds(), 0.0)
            outcomes = {name: Outcome(e, wait) for name, e in given.estimates.items()}
            for name, outcome in outcomes.items():
                self._figures(name).add(outcome)
            return outcomes
        if isinstance(event, TicketCancelled | TicketTransferredOut):
            given = self.given_.pop(event.ticket_id, None)
            if given is not None:
                for name in given.estimates:
                    figures = self._figures(name)
                    if isinstance(event, TicketCancelled):
                        figures.cancelled += 1
                    else:
                        figures.transferred += 1
        return {}
