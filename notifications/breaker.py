"""Per-destination protection: a rate limit (token bucket) and a circuit breaker.

In one process, per endpoint: a receiver that is down is not hammered by every message behind
the first failure (the breaker opens after `threshold` failures in a row and lets one message try
again after `cooldown_s`), and a receiver that asked for at most N requests a second gets no more
from this process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Bucket:
    rate: float  # tokens a second
    burst: float
    tokens: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def wait_s(self, now: float) -> float:
        """Take a token; how long to wait before using it (0: at once)."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class RateLimits:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: dict[str, Bucket] = {}
        self._clock = clock

    async def take(self, key: str, rate_per_s: float) -> None:
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != rate_per_s:
            bucket = self._buckets[key] = Bucket(rate_per_s, max(1.0, rate_per_s))
        wait = bucket.wait_s(self._clock())
        if wait > 0:
            await asyncio.sleep(wait)


@dataclass(slots=True)
class _Circuit:
    failures: int = 0
    opened_at: float | None = None


class Breakers:
    def __init__(
        self,
        threshold: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold, self._cooldown_s, self._clock = threshold, cooldown_s, clock
        self._circuits: dict[str, _Circuit] = {}

    def allows(self, key: str) -> bool:
        """Closed, or open for long enough that one try may go (half-open)."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.opened_at is None:
            return True
        if self._clock() - circuit.opened_at >= self._cooldown_s:
            circuit.opened_at = self._clock()  # one try per cooldown
            return True
        return False

    def succeeded(self, key: str) -> None:
        self._circuits.pop(key, None)

    def failed(self, key: str) -> None:
        circuit = self._circuits.setdefault(key, _Circuit())
        circuit.failures += 1
        if circuit.failures >= self._threshold and circuit.opened_at is None:
            circuit.opened_at = self._clock()

    def is_open(self, key: str) -> bool:
        circuit = self._circuits.get(key)
        return circuit is not None and circuit.opened_at is not None
