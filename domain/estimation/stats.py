"""Small online statistics: exponentially weighted means, a decaying log-histogram, windows.

All are O(1) or O(bins) per update, deterministic, and never read a clock.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field

from sortedcontainers import SortedList


@dataclass(slots=True)
class Ewma:
    """A mean that averages plainly over the first 1/alpha values, then forgets exponentially.

    The plain start matters for cold starts: the first few observations should outweigh the
    prior fast instead of being blended in at `alpha`.
    """

    alpha: float
    value: float
    count: float = 0.0

    def add(self, x: float, weight: float = 1.0) -> None:
        self.count += weight
        rate = max(self.alpha * weight, weight / self.count)
        self.value += (x - self.value) * min(rate, 1.0)


# Log-spaced bin edges from 2 s to ~6 h: service times, no-show timeouts and waits all fit.
_EDGES: tuple[float, ...] = tuple(2.0 * 1.2**i for i in range(45))
_LOG_STEP = math.log(1.2)


@dataclass(slots=True)
class LogHistogram:
    """A distribution of durations whose old observations fade (weight x `decay` per new one).

    Used for what occupies a counter per call: skewed, a mixture (services, no-show timeouts),
    so a histogram beats a parametric fit, and the mean residual given the time already spent is
    read straight off it.
    """

    decay: float
    weights: list[float] = field(default_factory=lambda: [0.0] * (len(_EDGES) + 1))
    total: float = 0.0
    version: int = 0  # counts additions (callers cache what they derive from the histogram)
    _tail: list[float] | None = None  # _tail[i] = weight in bins i.. (made on demand)
    _cached: tuple[int, float, float] | None = None  # (version, mean, second moment)

    def add(self, x: float, weight: float = 1.0) -> None:
        if self.decay < 1.0:
            self.weights = [w * self.decay for w in self.weights]
            self.total *= self.decay
        self.weights[bisect.bisect_right(_EDGES, x)] += weight
        self.total += weight
        self.version += 1
        self._tail = None

    def survival(self, x: float) -> float:
        """P(X > x), linear in log(x) inside a bin."""
        if self.total <= 0:
            return 0.0
        tail = self._tail
        if tail is None:
            tail = [0.0] * (len(self.weights) + 1)
            for i in range(len(self.weights) - 1, -1, -1):
                tail[i] = tail[i + 1] + self.weights[i]
            self._tail = tail
        i = bisect.bisect_right(_EDGES, x)
        if i == 0:
            frac = x / _EDGES[0] if x > 0 else 0.0
        elif i >= len(_EDGES):
            frac = min((x - _EDGES[-1]) / _EDGES[-1], 1.0)  # the last bin ends at twice its edge
        else:
            frac = math.log(x / _EDGES[i - 1]) / _LOG_STEP
        return (tail[i + 1] + self.weights[i] * (1.0 - frac)) / self.total

    @staticmethod
    def _center(i: int) -> float:
        if i == 0:
            return _EDGES[0] / 2
        if i >= len(_EDGES):
            return _EDGES[-1] * 1.5  # the overflow bin: spread over [edge, 2 x edge]
        return math.sqrt(_EDGES[i - 1] * _EDGES[i])

    def _moments(self) -> tuple[float, float]:
        if self._cached is None or self._cached[0] != self.version:
            first = second = 0.0
            if self.total > 0:
                for i, w in enumerate(self.weights):
                    if w:
                        center = self._center(i)
                        first += w * center
                        second += w * center * center
                first, second = first / self.total, second / self.total
            self._cached = (self.version, first, second)
        return self._cached[1], self._cached[2]

    def mean(self) -> float:
        return self._moments()[0]

    def second_moment(self) -> float:
        return self._moments()[1]

    def mean_residual(self, elapsed: float) -> float | None:
        """E[X - elapsed | X > elapsed], or None when nothing that long was ever seen."""
        start = bisect.bisect_right(_EDGES, elapsed)
        mass = 0.0
        moment = 0.0
        for i in range(start, len(self.weights)):
            w = self.weights[i]
            if w <= 0:
                continue
            center = max(self._center(i), elapsed)
            mass += w
            moment += w * center
        if mass <= self.total * 1e-3:
            return None
        return max(moment / mass - elapsed, 0.0)


@dataclass(slots=True)
class Window:
    """The last `size` values with their empirical quantiles, O(log size) per update."""

    size: int
    values: deque[float] = field(default_factory=deque)
    ordered: SortedList = field(default_factory=SortedList)

    def add(self, x: float) -> None:
        self.values.append(x)
        self.ordered.add(x)
        if len(self.values) > self.size:
            self.ordered.remove(self.values.popleft())

    def __len__(self) -> int:
        return len(self.values)

    def quantile(self, p: float) -> float:
        """Linear interpolation between order statistics; 0.0 when empty."""
        n = len(self.ordered)
        if n == 0:
            return 0.0
        pos = p * (n - 1)
        low = math.floor(pos)
        high = min(low + 1, n - 1)
        frac = pos - low
        a: float = self.ordered[low]
        b: float = self.ordered[high]
        return a + (b - a) * frac
