"""The rule-based estimator: the projection's own quantiles, as the queueing arithmetic gives them.

P10, P50 and P90 are read off the projected wait distribution (see `projection`): service-time
variance, the residuals of the counters serving now, higher-priority arrivals and the rota are
all in it; what the rules cannot name (a rota that changed today, a rush nobody announced) is
not. The learned estimator exists for that part.

While the service scale rests on few services, the range also carries the uncertainty of that
scale (`scale_sigma`): a mean learned from n calls is off by about cv / sqrt(n), and every call
ahead is off by as much, so the range widens in proportion (in log terms) and narrows as calls
come. Such a range says so: its basis is FEW_SERVICES.
"""

from __future__ import annotations

import math
from datetime import datetime

from domain.estimation.model import FEW_SERVICES, HISTORY, Estimate
from domain.estimation.outlook import estimate_inputs
from domain.estimation.signals import QueueSignals
from domain.events import QueueEvent
from domain.state import QueueState, TicketState


class RuleEstimator:
    name = "rules"

    def __init__(self, signals: QueueSignals | None = None) -> None:
        self.signals = signals or QueueSignals()

    def observe(self, state: QueueState, event: QueueEvent) -> None:
        self.signals.observe(state, event)

    def estimate(
        self,
        state: QueueState,
        ticket_id: str,
        at: datetime | None = None,
        newcomer: TicketState | None = None,
    ) -> Estimate | None:
        projected = estimate_inputs(self.signals, state, ticket_id, at, newcomer)
        if projected is None:
            return None
        view, wait, now = projected
        p10, p50, p90 = (wait.quantile(p) for p in (0.1, 0.5, 0.9))
        p10, p90 = widen(p10, p50, p90, self.signals.scale_sigma())
        return Estimate(p10, p50, p90, view.ahead, now, self.name, basis(self.signals))


# The 10% and 90% points of a standard normal.
Z90 = 1.2816


def widen(p10: float, p50: float, p90: float, sigma: float) -> tuple[float, float]:
    """P10 and P90 with a log-normal uncertainty of the whole scale (sigma) added to the
    projection's own spread (in quadrature, in log terms); P50 stays."""
    if sigma <= 0 or p50 <= 0:
        return p10, p90
    extra = (Z90 * sigma) ** 2
    low = math.log(p50 / p10) if p10 > 0 else None
    high = math.log(p90 / p50) if p90 > p50 else 0.0
    wide_low = p10 if low is None else p50 * math.exp(-math.sqrt(low * low + extra))
    return wide_low, p50 * math.exp(math.sqrt(high * high + extra))


def basis(signals: QueueSignals) -> str:
    return FEW_SERVICES if signals.thin() else HISTORY
