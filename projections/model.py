"""One queue as a stream processor holds it: its state and its wait-time estimators, folded
together event by event (the same fold for the live workers, the rebuild and the checkpoints)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.events import QueueEvent
from domain.evolve import evolve
from domain.state import QueueState, initial_state
from projections.estimates import QueueEstimates


@dataclass(slots=True)
class QueueModel:
    """One queue as the projector holds it: its state and its estimators, at one version."""

    state: QueueState
    estimates: QueueEstimates
    saved: int = 0  # the version of its newest checkpoint (see checkpoint.py)

    @classmethod
    def new(cls, queue_id: str) -> QueueModel:
        return cls(initial_state(queue_id), QueueEstimates())

    def apply(self, event: QueueEvent) -> None:
        """Fold one event: the state first, then the estimators, which read the new state."""
        evolve(self.state, event)
        self.estimates.observe(self.state, event)
