"""What an estimate is, and the interface every estimator offers.

An estimate is a range, never one number: P10, P50 and P90 of the seconds until the ticket is
called, counted from `at` (the time of the last event the estimator saw, or the time asked for),
plus how many people stand ahead of it in policy order right now, and what it rests on: the
queue's own history, or (`FEW_SERVICES`) a guess that the first services are still correcting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.events import QueueEvent
from domain.state import QueueState, TicketState

HISTORY = "history"
FEW_SERVICES = "few services yet"


@dataclass(frozen=True, slots=True)
class Estimate:
    p10: float
    p50: float
    p90: float
    ahead: int
    at: datetime
    estimator: str
    basis: str = HISTORY

    def as_dict(self) -> dict[str, object]:
        """Rounded whole seconds: what a ticket page or the positions topic shows."""
        return {
            "p10_seconds": round(self.p10),
            "p50_seconds": round(self.p50),
            "p90_seconds": round(self.p90),
            "ahead": self.ahead,
            "at": self.at.isoformat(),
            "estimator": self.estimator,
            "basis": self.basis,
        }


class Estimator(Protocol):
    """Folds a queue's events (after `evolve` applied each one) and estimates waiting tickets.

    `observe` must cost O(1) or O(log n) in the length of the line and `estimate` must not walk
    the line; both read time only from events (`at`), so a replay gives the same numbers.
    """

    name: str

    def observe(self, state: QueueState, event: QueueEvent) -> object: ...  # result unused

    def estimate(
        self,
        state: QueueState,
        ticket_id: str,
        at: datetime | None = None,
        newcomer: TicketState | None = None,
    ) -> Estimate | None:
        """The range of waiting `ticket_id`, or of `newcomer` (a hypothetical ticket, not in
        `state`: see `outlook.newcomer`) when one is given."""
        ...
