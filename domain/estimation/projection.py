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
chain of calls that just started has its next call a whole service away, not a fraction of one
(`renewal`).

The distribution is evaluated on a geometric grid, lazily, only as far as it is needed.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

from domain.estimation.profiles import SLOT_SECONDS as SLOT
from domain.estimation.renewal import Chains, Lag

# Nobody is promised a call more than this far away; the estimate says "at least this".
HORIZON = 12 * 3600.0
# Calls needed up to which N(x) is computed exactly; beyond, a normal approximation.
EXACT_LIMIT = 12
_NORMAL = NormalDist()


def _grid() -> tuple[float, ...]:
    """In units of one call's cost (scale-free: the same resolution for a 4-second gate and a
    20-minute desk): 0, then 1/150 of a call growing by 25% a step (30% past two calls), to
    beyond the horizon of the slowest queue: 53 points. (Steps of 15% and 20%, 80 points, made
    a fold a quarter slower for the same accuracy over the 36 offline runs; 35% and 40% made
    the error 3% worse: bench/README.md section 20.)"""
    points, x = [0.0], 1.0 / 150.0
    while x < 2000.0:
        points.append(x)
        x *= 1.25 if x < 2.0 else 1.3
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


def _at_least(first: Sequence[float], renewals: float, needed: int) -> tuple[float, float]:
    """P(B + R >= needed) and P(B + R >= needed + 1), B Poisson-binomial(first), R
    Poisson(renewals): both from one distribution of B (the hot path of short lines)."""
    if needed < 0:
        return 1.0, 1.0
    top = needed + 1
    dist = _poisson_binomial(first, top)  # dist[top] holds B >= top
    # Poisson tail: P(R >= j) for j = top - k.
    pmf = math.exp(-renewals)
    cdf = [0.0] * (top + 1)  # cdf[j] = P(R <= j - 1)
    for j in range(1, top + 1):
        cdf[j] = cdf[j - 1] + pmf
        pmf *= renewals / j
    low = high = 0.0
    for k, q in enumerate(dist):
        rest = needed - k
        low += q * (1.0 if rest <= 0 else max(1.0 - cdf[rest], 0.0))
        high += q * (1.0 if rest < 0 else max(1.0 - cdf[rest + 1], 0.0))
    return (1.0 if needed == 0 else min(low, 1.0)), min(high, 1.0)


@dataclass(slots=True)
class _Calls:
    """The calls the counters make from now on, counted as x grows: each busy counter's first
    release (`first`, the chance it has happened), the fluid renewals of all counters, and the
    higher-priority arrivals that will go ahead of the ticket meanwhile."""

    busy: list[CounterPath]
    idle: list[CounterPath]
    inflow: Callable[[int], float]
    cost: float
    slot_end: float
    released: list[float]
    busy_levels: list[float]
    idle_level: float
    first: list[float]
    slot: int = 0
    renewals: float = 0.0  # fluid renewal calls, all counters
    arrivals: float = 0.0
    started: float = 0.0  # chains of calls started in the step being counted

    @classmethod
    def start(
        cls,
        paths: Sequence[CounterPath],
        inflow: Callable[[int], float],
        cost: float,
        first_slot: float,
    ) -> _Calls:
        busy = [p for p in paths if p.release is not None]
        idle = [p for p in paths if p.release is None]
        first = [0.0] * len(busy)
        released = [p.release(0.0) if p.release is not None else 1.0 for p in busy]
        busy_levels = [p.level_at(0) for p in busy]
        idle_level = sum(p.level_at(0) for p in idle)
        return cls(busy, idle, inflow, cost, first_slot, released, busy_levels, idle_level, first)

    def count(self, a: float, x: float) -> float:
        """Count the calls made from a to x; the weight of the chains of calls started then."""
        self.started = 0.0
        while a < x:
            b = min(x, self.slot_end)
            self._span(a, b)
            a = b
            if b >= self.slot_end:
                self._next_slot()
        return self.started

    def _span(self, a: float, b: float) -> None:
        """From a to b, within one slot. (The hot loop of every projection: locals, not
        attributes; the same arithmetic, in the same order.)"""
        span = b - a
        cost = self.cost
        self.arrivals += self.inflow(self.slot) * span
        renewals = self.renewals + self.idle_level * span / cost
        started = self.started
        released, levels, first = self.released, self.busy_levels, self.first
        for i, path in enumerate(self.busy):
            level = levels[i]
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
        self.renewals = renewals
        self.started = started

    def _next_slot(self) -> None:
        # A counter coming back (from a break, or opening) calls at once.
        self.slot += 1
        self.slot_end += SLOT
        slot = self.slot
        released, levels = self.released, self.busy_levels
        for i, path in enumerate(self.busy):
            level = path.level_at(slot)
            rise = level - levels[i]
            levels[i] = level
            if rise > 0:
                self.renewals += rise * released[i]
                self.started += rise * released[i]
        new_idle = 0.0
        for path in self.idle:
            # path.level_at(slot - 1) was computed at the last slot (or at the start)
            level = path.level_at(slot)
            rise = level - path.levels[slot - 1]
            new_idle += level
            if rise > 0:
                self.renewals += rise
                self.started += rise
        self.idle_level = new_idle


def _reached(
    first: Sequence[float], calls: float, still: float, arrivals: float, ahead: float, cv2: float
) -> float:
    """P(the calls made reach the ticket): the first releases `first`, `calls` renewals, with
    `still` of the `ahead` in line and `arrivals` higher-priority people come meanwhile."""
    needed = 1.0 + still + arrivals
    if needed <= EXACT_LIMIT:
        low = int(needed)
        frac = needed - low
        at_low, above = _at_least(first, calls, low)
        p = (1.0 - frac) * at_low
        if frac > 0:
            p += frac * above
        return p
    gone = ahead - still
    mean = sum(first) + calls
    variance = (
        sum(q * (1.0 - q) for q in first)
        + max(cv2, 0.2) * calls
        + arrivals
        + gone * (1.0 - gone / max(ahead, 1.0))
    )
    return _NORMAL.cdf((mean - needed + 0.5) / math.sqrt(variance + 1e-9))


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
    cost = max(call_cost, 1e-3)
    made = _Calls.start(paths, inflow, cost, first_slot)
    chains = Chains.of(lag, cv2)
    xs = [0.0]
    ps = [0.0]
    previous = 0.0
    for unit in GRID[1:]:
        x = unit * cost
        if x > horizon:
            break
        started = made.count(previous, x)
        if started > 0:
            chains.recent.append((0.5 * (previous + x), started))
        previous = x
        offset = chains.offset(x)
        calls = max(made.renewals + offset + chains.settled * chains.skew, 0.0)
        still = staying(x)
        p = _reached(made.first, calls, still, made.arrivals, ahead, cv2)
        p = max(p, ps[-1])
        xs.append(x)
        ps.append(p)
        if p >= stop:
            break
    return WaitDistribution(tuple(xs), tuple(ps), horizon)


@dataclass(frozen=True, slots=True)
class Outlook:
    """What one waiting ticket's projection starts from (built by `outlook.outlook`)."""

    ahead: int
    open_now: int  # counters serving or about to call now
    paths: tuple[CounterPath, ...]
    call_cost: float
    cv2: float
    staying: Callable[[float], float]
    lag: Lag
    inflow: Callable[[int], float]  # higher-priority arrivals per second in slot k from now
    first_slot: float

    def project(self) -> WaitDistribution:
        return project(
            self.paths,
            ahead=float(self.ahead),
            staying=self.staying,
            inflow=self.inflow,
            call_cost=self.call_cost,
            cv2=self.cv2,
            first_slot=self.first_slot,
            horizon=HORIZON,
            lag=self.lag,
        )
