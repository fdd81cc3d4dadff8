"""The renewal lag: how far the calls of a counter that just started a chain of calls trail
the fluid count (open time / call cost) the projection counts them by.

A chain that just started (a first release, a return from a break) has its next call a whole
service away, not a fraction of one; long after, the count settles at skew = (cv^2 - 1) / 2 calls
off the fluid one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Lag:
    """lag(t) = M(t) - t / cost on a grid: how far the renewal count M of a counter that just
    started serving trails the fluid count t / cost (settling at `skew` = (cv^2 - 1) / 2).

    Never changed once made, but not frozen: compiled (domain/estimation/native.py), a frozen
    class cannot be copied or unpickled, and the fold's checkpoints pickle it."""

    step: float
    values: tuple[float, ...]
    skew: float

    @property
    def settle(self) -> float:
        return self.step * (len(self.values) - 1)


def renewal_lag(cycle_cdf: Callable[[float], float], cost: float, cv2: float) -> Lag:
    """Solve the renewal equation M = F + M * F on a grid of cost / 25 over three call costs;
    O(grid^2) once (callers keep it while the service-time histogram is unchanged)."""
    step, points = cost / 25.0, 75
    cdf = [cycle_cdf(k * step) for k in range(points + 1)]
    renewals = [0.0] * (points + 1)
    for k in range(1, points + 1):
        total = cdf[k]
        for j in range(1, k + 1):
            total += renewals[k - j] * (cdf[j] - cdf[j - 1])
        renewals[k] = total
    skew = (min(cv2, 3.0) - 1.0) / 2.0
    values = tuple(renewals[k] - k * step / cost for k in range(points + 1))
    return Lag(step, values, skew)


@dataclass(slots=True)
class Chains:
    """Chains of calls (a first release, a return from a break) started recently, as (time,
    weight), and the weight of those started long enough ago to have settled.

    The first renewal of a chain waits for a whole service: the fluid count runs ahead of it by
    lag(t) (t since the chain started), settling at skew ((cv^2 - 1) / 2: a regular service
    calls a little later than its mean says, a skewed one sooner).
    """

    skew: float
    step: float
    values: tuple[float, ...]
    settle: float
    recent: list[tuple[float, float]] = field(default_factory=list)
    settled: float = 0.0

    @classmethod
    def of(cls, lag: Lag | None, cv2: float) -> Chains:
        """From the renewal lag (None: only its asymptote, from cv2)."""
        skew = (min(cv2, 3.0) - 1.0) / 2.0 if lag is None else lag.skew
        if lag is None:
            return cls(skew, 1.0, (skew,), 0.0)
        return cls(skew, lag.step, lag.values, lag.settle)

    def offset(self, x: float) -> float:
        """How far the recent chains trail the fluid count at x (the settled ones move over to
        `settled`)."""
        values = self.values
        last = len(values) - 1
        recent = self.recent
        offset = 0.0
        keep = 0
        for start, weight in recent:
            since = x - start
            if since >= self.settle:
                self.settled += weight
                continue
            k = since / self.step
            j = int(k)
            v0 = values[j]
            offset += weight * (v0 + (values[min(j + 1, last)] - v0) * (k - j))
            recent[keep] = (start, weight)
            keep += 1
        del recent[keep:]
        return offset
