"""Small online statistics: exponentially weighted means, a decaying log-histogram, windows.

All are O(1) or O(bins) per update, deterministic, and never read a clock.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

from sortedcontainers import SortedList


def quantile(ordered: Sequence[float], p: float) -> float:
    """The `p` quantile of sorted, non-empty `ordered`, interpolated between neighbours."""
    position = p * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


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


# Log-spaced bin edges from 0.1 s to ~11 h, 20 % apart: a scanning gate's 3-second services and a
# clinic's 20-minute consultations are resolved alike (scale-free: a bin is a ratio, not seconds).
_EDGES: tuple[float, ...] = tuple(0.1 * 1.2**i for i in range(64))
_LOG_STEP = math.log(1.2)
_NORMAL = NormalDist()


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
    _cached_cv2: tuple[int, float | None] | None = None  # (version, data_cv2)
    # A prior (cold start): its shape over the bins, its weight at the start, and its weight now.
    _prior: list[float] | None = None
    _prior_start: float = 0.0
    _prior_left: float = 0.0
    observed: float = 0.0  # observations added (not faded): how far the prior has given way

    def prime(self, median: float, sigma: float, weight: float) -> None:
        """Start from a log-normal guess worth `weight` observations. It gives way as data
        comes (worth w^2 / (w + n) after n observations, nothing after 3w): three services at
        4 s outweigh a guess of 5 minutes at once, instead of dragging the mean for hundreds of
        calls."""
        shape = [0.0] * len(self.weights)
        edges = (0.0, *_EDGES, math.inf)
        for i in range(len(shape)):
            low = _NORMAL.cdf(math.log(edges[i] / median) / sigma) if edges[i] > 0 else 0.0
            high = (
                _NORMAL.cdf(math.log(edges[i + 1] / median) / sigma)
                if i + 1 < len(edges) - 1
                else 1.0
            )
            shape[i] = high - low
        self._prior, self._prior_start, self._prior_left = shape, weight, weight
        self.weights = [w + weight * q for w, q in zip(self.weights, shape, strict=True)]
        self.total += weight
        self.version += 1
        self._tail = None

    @property
    def thin(self) -> bool:
        """Mostly prior still: fewer real observations than the prior is worth."""
        return self._prior is not None and self.observed < 3 * self._prior_start

    def add(self, x: float, weight: float = 1.0) -> None:
        if self.decay < 1.0:
            self.weights = [w * self.decay for w in self.weights]
            self.total *= self.decay
            self._prior_left *= self.decay
        self.weights[bisect.bisect_right(_EDGES, x)] += weight
        self.total += weight
        self.observed += weight
        if self._prior is not None and self._prior_left > 0:
            start = self._prior_start
            # Gone once no longer `thin`: what was left of a neutral guess (a mean of minutes)
            # still dragged a 4 s gate's mean up by a fifth after 50 services, so the same line
            # at 4 s and at 4 min got ranges 10-12 % apart.
            wanted = start * start / (start + self.observed) if self.thin else 0.0
            drop = self._prior_left - wanted
            if drop > 0:
                self.weights = [
                    max(w - drop * q, 0.0) for w, q in zip(self.weights, self._prior, strict=True)
                ]
                self.total = max(self.total - drop, 0.0)
                self._prior_left = wanted
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

    def data_cv2(self) -> float | None:
        """Squared coefficient of variation of the observations alone (the prior's share taken
        out: a wide cold-start guess must not pass for skewed services); None before two.
        (Asked by every projection: kept until the next observation.)"""
        if self._cached_cv2 is None or self._cached_cv2[0] != self.version:
            self._cached_cv2 = (self.version, self._data_cv2())
        return self._cached_cv2[1]

    def _data_cv2(self) -> float | None:
        first, second = self._moments()
        prior, left = self._prior, self._prior_left
        weight = self.total
        if prior is not None and left > 0:
            centers = [self._center(i) for i in range(len(prior))]
            first = first * weight - left * sum(q * c for q, c in zip(prior, centers, strict=True))
            second = second * weight - left * sum(
                q * c * c for q, c in zip(prior, centers, strict=True)
            )
            weight -= left
            if weight <= 1e-9:
                return None
            first, second = first / weight, second / weight
        if self.observed < 2 or first <= 0:
            return None
        return max(second / (first * first) - 1.0, 0.0)

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
