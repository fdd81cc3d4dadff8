"""Readiness: can this process do its work now? Each part (a server, a lag) is a `Probe`; they
run together, each within a short timeout, and their answer is kept a moment (`Readiness`), so
probes from load balancers, orchestrators and scrapes cannot load the servers they ask about.

What a report says is for anyone who asks, without a key: per part, whether it is ok, how long
it took and (for a lag) how far behind it is. Never why in the servers' words (an error message
names hosts and ports): a failure is one of `timeout`, `unavailable`, `over bound`; the log has
the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger("vq.health")

T = TypeVar("T")

TIMEOUT_S = 1.0
CACHE_S = 1.5
# A lag that takes longer than the timeout to measure (several round trips to a loaded Kafka)
# keeps its last measurement this long: a slow question is not a reader falling behind, and an API
# taken out of its load balancer whenever Kafka is busy would add an outage to the load.
LAG_GRACE_S = 15.0


@dataclass(frozen=True, slots=True)
class Lag:
    """How far behind a reader is: events not yet passed on, the oldest one's age (seconds, when
    known), and per (topic, partition) for a consumer group."""

    events: int
    seconds: float | None = None
    partitions: Mapping[tuple[str, int], int] = field(default_factory=dict)
    # Per (topic, partition), the group's position (what it committed): moving, it is reading.
    positions: Mapping[tuple[str, int], int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Probe:
    """One part of readiness. `run` answers (a `Lag`, or None when there is nothing to measure)
    or raises; a lag is ok while its events are at most `bound` (None or 0: any lag is ok).
    A measurement that times out stands on the last one for `grace_s` (0: it fails at once)."""

    name: str
    run: Callable[[], Awaitable[Lag | None]]
    bound: int | None = None
    grace_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    ms: float
    lag: Lag | None = None
    error: str | None = None  # timeout | unavailable | over bound
    bound: int | None = None
    age_s: float | None = None  # the lag is an earlier measurement's (this one timed out)

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"ok": self.ok, "ms": round(self.ms, 1)}
        if self.lag is not None:
            found["events"] = self.lag.events
            if self.lag.seconds is not None:
                found["seconds"] = round(self.lag.seconds, 1)
        if self.age_s is not None:
            found["measured_s_ago"] = round(self.age_s, 1)
        if self.bound:
            found["max"] = self.bound
        if self.error is not None:
            found["error"] = self.error
        return found


@dataclass(frozen=True, slots=True)
class Report:
    checks: Mapping[str, Check]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks.values())

    @property
    def failing(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "unready",
            "checks": {name: check.as_dict() for name, check in self.checks.items()},
        }


class Recent(Generic[T]):
    """The latest answer of `compute`, computed again once it is older than `max_age_s`; callers
    that ask meanwhile share the one computation under way (never two at once)."""

    def __init__(
        self,
        compute: Callable[[], Awaitable[T]],
        max_age_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._compute = compute
        self._max_age_s = max_age_s
        self._clock = clock
        self._value: tuple[float, T] | None = None
        self._running: asyncio.Future[T] | None = None

    @property
    def last(self) -> T | None:
        """The latest answer, however old (None: none yet)."""
        return None if self._value is None else self._value[1]

    async def get(self) -> T:
        if self._value is not None and self._clock() - self._value[0] < self._max_age_s:
            return self._value[1]
        if self._running is None:
            self._running = asyncio.ensure_future(self._refresh())
        # Shielded: a caller that goes away does not cancel the others' answer.
        return await asyncio.shield(self._running)

    async def _refresh(self) -> T:
        try:
            value = await self._compute()
            self._value = (self._clock(), value)
            return value
        finally:
            self._running = None


class Readiness:
    """The parts' probes, run together (each within `timeout_s`), their report kept `cache_s`."""

    def __init__(
        self,
        probes: Sequence[Probe],
        *,
        timeout_s: float = TIMEOUT_S,
        cache_s: float = CACHE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probes = tuple(probes)
        self._timeout_s = timeout_s
        self._failing: set[str] = set()
        self._clock = clock
        self._measured: dict[str, tuple[float, Lag | None]] = {}  # the last answer, and when
        self._recent: Recent[Report] = Recent(self._evaluate, cache_s, clock)

    @property
    def last(self) -> Report | None:
        return self._recent.last

    async def report(self) -> Report:
        return await self._recent.get()

    async def _evaluate(self) -> Report:
        checks = await asyncio.gather(*(self._check(probe) for probe in self._probes))
        return Report(
            {probe.name: check for probe, check in zip(self._probes, checks, strict=True)}
        )

    async def _check(self, probe: Probe) -> Check:
        started = time.perf_counter()
        try:
            lag = await asyncio.wait_for(probe.run(), self._timeout_s)
        except TimeoutError:
            return self._earlier(probe, started) or self._failed(probe, started, "timeout", None)
        except Exception as exc:  # any failure of the part is "not ready", never a 500
            return self._failed(probe, started, "unavailable", exc)
        ms = (time.perf_counter() - started) * 1000
        if lag is not None and probe.bound and lag.events > probe.bound:
            return self._failed(probe, started, "over bound", None, lag)
        if probe.grace_s:
            self._measured[probe.name] = (self._clock(), lag)
        if probe.name in self._failing:
            self._failing.discard(probe.name)
            log.info("ready again: %s", probe.name)
        return Check(ok=True, ms=ms, lag=lag, bound=probe.bound)

    def _earlier(self, probe: Probe, started: float) -> Check | None:
        """The last measurement that was ok, while it is under `grace_s` old (only a probe with a
        grace has one kept)."""
        when, lag = self._measured.get(probe.name, (None, None))
        if when is None or self._clock() - when > probe.grace_s:
            return None
        ms = (time.perf_counter() - started) * 1000
        return Check(ok=True, ms=ms, lag=lag, bound=probe.bound, age_s=self._clock() - when)

    def _failed(
        self,
        probe: Probe,
        started: float,
        error: str,
        exc: Exception | None,
        lag: Lag | None = None,
    ) -> Check:
        self._measured.pop(probe.name, None)
        if probe.name not in self._failing:  # once per outage, not once per probe
            self._failing.add(probe.name)
            cause = "" if exc is None else f": {type(exc).__name__}: {exc}"
            extra = "" if lag is None else f" ({lag.events} > {probe.bound})"
            log.warning("not ready: %s %s%s%s", probe.name, error, extra, cause)
        ms = (time.perf_counter() - started) * 1000
        return Check(ok=False, ms=ms, lag=lag, error=error, bound=probe.bound)
