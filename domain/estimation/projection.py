"""The projection: the distribution of the time until a ticket is called.

A ticket is called by the n-th call from now, n = 1 + the people ahead of it (less those who
will cancel first) + the higher-priority people who arrive before then. Calls are counted per
counter: a busy counter calls once its current occupation ends (a random residual, read off the
learned distribution of its service type given the time already spent), then again every call
cost on average while it is open; a counter that comes back from a break calls at once. Each
counter's chance of being open in each coming 15-minute slot comes from its learned rota.

So N(x), the calls made by x seconds from now, is a sum of first releases (independent
Bernoulli: computed exactly) and renewals (counted as Poisson, or as a normal with the service
times' variance once many calls are needed), and P(wait <= x) = P(N(x) >= n(x)). Using the
residuals' distributions, not their means, matters: with skewed service times the second of
four busy counters to come free does so far sooner than the second-smallest expected residual.
The renewals are counted as a fluid (open time / call cost) corrected by the renewal lag: a
chain of calls that just started has its next call a whole service away, not a fraction of one.

The distribution is evaluated on a geometric grid, lazily, only as far as it is needed.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

from domain.estimation.profiles import SLOT_SECONDS as SLOT

# Calls needed up to which N(x) is computed exactly; beyond, a normal approximation.
EXACT_LIMIT = 12
_NORMAL = NormalDist()


def _grid() -> tuple[float, ...]:
    """0, then 2 s growing by 15% a step (20% past ten minutes) to beyond a day."""
    points, x = [0.0], 2.0
    while x < 100_000:
        points.append(x)
        x *= 1.15 if x < 600 else 1.2
    return tuple(points)


GRID = _grid()


@dataclass(slots=True)
class CounterPath:
    """What one counter is expected to do from now on.

    `release(x)`: the chance its current occupation has ended and it has called again by x
    (None: it has none). `level(k)`: the chance it is open in slot k from now (k = 0: now).
    """

    release: Callable[[float], float] | None
    level: Callable[[int], float]
    levels: list[float] = field(default_factory=list)

    def level_at(self, k: int) -> float:
        while len(self.levels) <= k:
            self.levels.append(self.level(len(self.levels)))
        return self.levels[k]


@dataclass(frozen=True, slots=True)
class WaitDistribution:
    """P(called within x) at increasing x; beyond the last point, `ceiling` seconds."""

    xs: tuple[float, ...]
    ps: tuple[float, ...]
    ceiling: float

    def quantile(self, p: float) -> float:
        ps = self.ps
        i = bisect.bisect_left(ps, p)
        if i >= len(ps):
            return self.ceiling
        if i == 0:
            return self.xs[0]
        p0, p1 = ps[i - 1], ps[i]
        x0, x1 = self.xs[i - 1], self.xs[i]
        if p1 <= p0:
            return x1
        return x0 + (x1 - x0) * (p - p0) / (p1 - p0)

    def cdf(self, x: float) -> float:
        xs = self.xs
        i = bisect.bisect_right(xs, x)
        if i >= len(xs):
            return self.ps[-1] if x < self.ceiling else 1.0
        if i == 0:
            return 0.0
        x0, x1 = xs[i - 1], xs[i]
        p0, p1 = self.ps[i - 1], self.ps[i]
        return p0 + (p1 - p0) * (x - x0) / (x1 - x0)


def _poisson_binomial(probabilities: Sequence[float], limit: int) -> list[float]:
    """P(B = k) for k <= limit (the last entry holds B >= limit) of a sum of Bernoullis."""
    dist = [1.0]
    for p in probabilities:
        if p <= 0:
            continue
        grown = [0.0] * min(len(dist) + 1, limit + 1)
        for k, q in enumerate(dist):
            grown[k] += q * (1.0 - p)
            grown[min(k + 1, limit)] += q * p
        dist = grown
    return dist


def _at_least(first: Sequence[float], renewals: float, needed: int) -> float:
    """P(B + R >= needed), B Poisson-binomial(first), R Poisson(renewals)."""
    if needed <= 0:
        return 1.0
    dist = _poisson_binomial(first, needed)
    # Poisson tail: P(R >= j) for j = needed - k.
    pmf = math.exp(-renewals)
    cdf = [0.0] * (needed + 1)  # cdf[j] = P(R <= j - 1)
    for j in range(1, needed + 1):
        cdf[j] = cdf[j - 1] + pmf
        pmf *= renewals / j
    total = 0.0
    for k, q in enumerate(dist):
        rest = needed - k
        total += q * (1.0 if rest <= 0 else max(1.0 - cdf[rest], 0.0))
    return min(total, 1.0)


@dataclass(frozen=True, slots=True)
class Lag:
    """lag(t) = M(t) - t / cost on a grid: how far the renewal count M of a counter that just
    started serving trails the fluid count t / cost (settling at `skew` = (cv^2 - 1) / 2)."""

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


def project(
    paths: Sequence[CounterPath],
    *,
    ahead: float,
    staying: Callable[[float], float],
    inflow: Callable[[int], float],
    call_cost: float,
    cv2: float,
    first_slot: float,
    horizon: float,
    lag: Lag | None = None,
    stop: float = 0.995,
) -> WaitDistribution:
    """P(the ticket is called within x), for x on the grid until `stop` or `horizon`.

    `inflow(k)`: higher-priority arrivals per second in slot k; `first_slot`: seconds left in
    the current slot; `staying(x)`: how many of the `ahead` are expected still in line (not
    cancelled) x seconds from now; `lag`: the renewal lag of a counter's calls (None: only its
    asymptote, from cv2).
    """
    cost = max(call_cost, 1.0)
    skew = (min(cv2, 3.0) - 1.0) / 2.0 if lag is None else lag.skew
    lag_step = lag.step if lag is not None else 1.0
    lag_values = lag.values if lag is not None else (skew,)
    settle = lag.settle if lag is not None else 0.0
    last_lag = len(lag_values) - 1
    busy = [p for p in paths if p.release is not None]
    idle = [p for p in paths if p.release is None]
    first = [0.0] * len(busy)
    released = [p.release(0.0) if p.release is not None else 1.0 for p in busy]
    renewals = 0.0  # fluid renewal calls, all counters
    # Chains of calls (a first release, a return from a break) started recently: (time, weight).
    recent: list[tuple[float, float]] = []
    settled = 0.0
    arrivals = 0.0
    xs = [0.0]
    ps = [0.0]
    slot, slot_end = 0, first_slot
    busy_levels = [p.level_at(0) for p in busy]
    idle_level = sum(p.level_at(0) for p in idle)
    previous = 0.0
    for x in GRID[1:]:
        if x > horizon:
            break
        a = previous
        started = 0.0  # chains of calls started in this step
        while a < x:
            b = min(x, slot_end)
            span = b - a
            arrivals += inflow(slot) * span
            renewals += idle_level * span / cost
            for i, path in enumerate(busy):
                level = busy_levels[i]
                before = released[i]
                if before >= 0.9999:
                    renewals += before * level * span / cost
                    continue
                after = path.release(b)  # type: ignore[misc]
                released[i] = after
                grown = (after - before) * level
                first[i] += grown
                started += grown
                renewals += 0.5 * (before + after) * level * span / cost
            a = b
            if b >= slot_end:
                # A counter coming back (from a break, or opening) calls at once.
                slot += 1
                slot_end += SLOT
                for i, path in enumerate(busy):
                    level = path.level_at(slot)
                    rise = level - busy_levels[i]
                    busy_levels[i] = level
                    if rise > 0:
                        renewals += rise * released[i]
                        started += rise * released[i]
                new_idle = 0.0
                for path in idle:
                    rise = path.level_at(slot) - path.level_at(slot - 1)
                    new_idle += path.level_at(slot)
                    if rise > 0:
                        renewals += rise
                        started += rise
                idle_level = new_idle
        if started > 0:
            recent.append((0.5 * (previous + x), started))
        previous = x
        # The first renewal of a chain waits for a whole service: the fluid count runs ahead
        # of it by lag(t) (t since the chain started), settling at skew ((cv^2 - 1) / 2: a
        # regular service calls a little later than its mean says, a skewed one sooner).
        offset = 0.0
        keep = 0
        for start, weight in recent:
            since = x - start
            if since >= settle:
                settled += weight
                continue
            k = since / lag_step
            j = int(k)
            v0 = lag_values[j]
            offset += weight * (v0 + (lag_values[min(j + 1, last_lag)] - v0) * (k - j))
            recent[keep] = (start, weight)
            keep += 1
        del recent[keep:]
        calls = max(renewals + offset + settled * skew, 0.0)
        still = staying(x)
        needed = 1.0 + still + arrivals
        if needed <= EXACT_LIMIT:
            low = int(needed)
            frac = needed - low
            p = (1.0 - frac) * _at_least(first, calls, low)
            if frac > 0:
                p += frac * _at_least(first, calls, low + 1)
        else:
            gone = ahead - still
            mean = sum(first) + calls
            variance = (
                sum(q * (1.0 - q) for q in first)
                + max(cv2, 0.2) * calls
                + arrivals
                + gone * (1.0 - gone / max(ahead, 1.0))
            )
            p = _NORMAL.cdf((mean - needed + 0.5) / math.sqrt(variance + 1e-9))
        p = max(p, ps[-1])
        xs.append(x)
        ps.append(p)
        if p >= stop:
            break
    return WaitDistribution(tuple(xs), tuple(ps), horizon)
