"""The rule-based estimator: the projection's own quantiles, as the queueing arithmetic gives them.

P10, P50 and P90 are read off the projected wait distribution (see `projection`): service-time
variance, the residuals of the counters serving now, higher-priority arrivals and the rota are
all in it; what the rules cannot name (a rota that changed today, a rush nobody announced) is
not. The learned estimator exists for that part.
"""

from __future__ import annotations

from datetime import datetime

from domain.estimation.model import Estimate
from domain.estimation.outlook import estimate_inputs
from domain.estimation.signals import QueueSignals
from domain.events import QueueEvent
from domain.state import QueueState


class RuleEstimator:
    name = "rules"

    def __init__(self, signals: QueueSignals | None = None) -> None:
        self.signals = signals or QueueSignals()

    def observe(self, state: QueueState, event: QueueEvent) -> None:
        self.signals.observe(state, event)

    def estimate(
        self, state: QueueState, ticket_id: str, at: datetime | None = None
    ) -> Estimate | None:
        projected = estimate_inputs(self.signals, state, ticket_id, at)
        if projected is None:
            return None
        view, wait, now = projected
        p10, p50, p90 = (wait.quantile(p) for p in (0.1, 0.5, 0.9))
        return Estimate(p10, p50, p90, view.ahead, now, self.name)
