"""The learned estimator: the projection, recalibrated online by what actually happened.

At enqueue it keeps a few quantiles of the projected wait distribution; when the ticket is
called it learns where the real wait fell in that distribution: u = P_projected(wait <= real),
the probability integral transform. Were the projection right, u would be uniform; it never
quite is (walk-aways the rules cannot see, a rota that changed, service-time drift). Per
context (how far the ticket stood from a counter) it keeps the last WINDOW values of u and
serves, for P10/P50/P90, the projection's quantiles at the empirical 10%, 50% and 90% of u: an
online quantile recalibration. The range ends up calibrated by the data whatever the rules get
wrong, and a biased projection gets its median moved to where waits actually land.

On top, the range's width follows its own record (adaptive conformal inference, Gibbs and
Candes 2021): the miss rate it aims at moves by GAMMA x (0.2 - missed) after each call, so over
any long stretch about 80% of waits land inside P10..P90 even when the world drifts.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import datetime

from domain.estimation.model import Estimate
from domain.estimation.outlook import estimate_inputs, projected_wait
from domain.estimation.projection import Outlook, WaitDistribution
from domain.estimation.rules import basis
from domain.estimation.signals import QueueSignals
from domain.estimation.stats import Window
from domain.events import (
    AppointmentCheckedIn,
    QueueEvent,
    TicketCalled,
    TicketCancelled,
    TicketEnqueued,
    TicketReturned,
    TicketTransferredIn,
    TicketTransferredOut,
)
from domain.state import QueueState, TicketState

WINDOW = 300
POOLED_WINDOW = 1000
# A window outweighs what it refines (the pooled window the projection's own levels, a
# context's window the pooled one) once it holds about this many values.
CONTEXT_WEIGHT = 50.0
# Labels before the estimator calls itself ready (the selector serves the other one until then).
READY_LABELS = 50
# The share of waits an honest P10..P90 range misses, and the step of its online correction.
MISS_TARGET = 0.2
GAMMA = 0.01
# Levels of the projected distribution kept per waiting ticket (enough to place a wait in it).
LEVELS = (0.005, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.995)


@dataclass(frozen=True, slots=True)
class _Pending:
    since: datetime
    quantiles: tuple[float, ...]  # the projection's quantiles at LEVELS
    context: str
    shown: tuple[float, float]  # the P10..P90 this estimator gave at enqueue


def context(view: Outlook) -> str:
    """How far the ticket stands from a counter: the regimes err differently."""
    calls = view.ahead + 1
    if calls <= view.open_now:
        return "first"
    if view.open_now == 0:
        return "closed"
    per_counter = calls / view.open_now
    return f"renewal-{min(int(math.log2(per_counter)), 4)}"


def transform(quantiles: tuple[float, ...], wait: float) -> float:
    """Where `wait` falls in a distribution known by its quantiles at LEVELS (0..1)."""
    i = bisect.bisect_left(quantiles, wait)
    j = bisect.bisect_right(quantiles, wait)
    if j > i:  # on an atom spanning levels i..j-1 (e.g. a call after the usual gap): its middle
        low = LEVELS[i - 1] if i > 0 else 0.0
        return (low + LEVELS[j - 1]) / 2
    if i == 0:
        q0 = quantiles[0]
        return LEVELS[0] * (wait / q0) if q0 > 0 else LEVELS[0] / 2
    if i >= len(quantiles):
        return (1.0 + LEVELS[-1]) / 2
    q0, q1 = quantiles[i - 1], quantiles[i]
    return LEVELS[i - 1] + (LEVELS[i] - LEVELS[i - 1]) * (wait - q0) / (q1 - q0)


class LearnedEstimator:
    name = "learned"

    def __init__(self, signals: QueueSignals | None = None) -> None:
        self.signals = signals or QueueSignals()
        self.windows: dict[str, Window] = {}
        self.pooled = Window(POOLED_WINDOW)
        self.pending: dict[str, _Pending] = {}
        self.labels = 0
        self.miss = MISS_TARGET  # the miss rate the range is currently built for

    @property
    def ready(self) -> bool:
        return self.labels >= READY_LABELS

    def observe(self, state: QueueState, event: QueueEvent) -> None:
        self.signals.observe(state, event)
        if isinstance(
            event, TicketEnqueued | TicketTransferredIn | TicketReturned | AppointmentCheckedIn
        ):
            ticket = state.tickets.get(event.ticket_id)
            if ticket is not None and ticket.status == "waiting":
                view, wait = projected_wait(self.signals, state, ticket, event.at)
                quantiles = tuple(wait.quantile(p) for p in LEVELS)
                ctx = context(view)
                low, _, high = self._range(wait, ctx)
                self.pending[event.ticket_id] = _Pending(event.at, quantiles, ctx, (low, high))
        elif isinstance(event, TicketCalled):
            pending = self.pending.pop(event.ticket_id, None)
            if pending is not None:
                waited = max((event.at - pending.since).total_seconds(), 0.0)
                u = transform(pending.quantiles, waited)
                self.windows.setdefault(pending.context, Window(WINDOW)).add(u)
                self.pooled.add(u)
                self.labels += 1
                missed = not pending.shown[0] <= waited <= pending.shown[1]
                self.miss += GAMMA * (MISS_TARGET - (1.0 if missed else 0.0))
                self.miss = min(max(self.miss, 0.02), 0.6)
        elif isinstance(event, TicketCancelled | TicketTransferredOut):
            self.pending.pop(event.ticket_id, None)

    def level(self, ctx: str, p: float) -> float:
        """The level of the projection to serve for quantile p (p itself until data says).

        The median moves only by what exceeds the sampling error of the empirical median (soft
        threshold): a projection that is right in the middle is left alone there, while the
        range is calibrated in full.
        """
        margin = 1.0 if p == 0.5 else 0.0
        value = p  # the projection taken at its word, until the data says otherwise
        for window in (self.pooled, self.windows.get(ctx)):
            if window is not None and len(window):
                weight = len(window) / (len(window) + CONTEXT_WEIGHT)
                value = weight * _denoised(window, p, value, margin) + (1.0 - weight) * value
        return value

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
        p10, p50, p90 = self._range(wait, context(view))
        return Estimate(p10, p50, p90, view.ahead, now, self.name, basis(self.signals))

    def _range(self, wait: WaitDistribution, ctx: str) -> tuple[float, float, float]:
        half = self.miss / 2.0
        low, mid, high = (_at(wait, self.level(ctx, p)) for p in (half, 0.5, 1.0 - half))
        return low, max(mid, low), max(high, mid, low)


def _denoised(window: Window, p: float, prior: float, margin: float) -> float:
    """The window's p-quantile of u, moved towards `prior` by `margin` sampling errors."""
    found = window.quantile(p)
    error = margin * math.sqrt(p * (1.0 - p) / len(window))
    shift = found - prior
    return prior + math.copysign(max(abs(shift) - error, 0.0), shift)


def _at(wait: WaitDistribution, level: float) -> float:
    return wait.quantile(min(max(level, 0.001), 0.995))
