"""Whether the read side keeps up, judged every few seconds by each API process that has live
followers, and told to them (projections/read_side.py, the hub): a board or a phone whose
views stopped changing because the workers or the relay stopped says "updates delayed" instead
of "live" (the README: stale data is never presented as fresh).

Delayed: records wait on a partition of the events topic and the workers' group has not moved
its position there for `stall_s`; or the oldest event the relay has not published is older than
`stall_s`. A busy read side is not delayed (its positions move); a quiet one neither (nothing
waits). Kafka not answering leaves the relay's part to judge (it then falls behind too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from observability.health import Lag

log = logging.getLogger("vq.freshness")

EVERY_S = 5.0


class Staleness:
    """The judgement from successive samples: each partition's position, and since when it has
    not moved while records wait behind it."""

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s
        self._still: dict[tuple[str, int], tuple[int, float]] = {}  # position, since (monotonic)

    def judge(self, consumer: Lag | None, relay: Lag | None, now: float) -> float | None:
        """Since when (monotonic seconds) the read side is delayed, None when it keeps up."""
        since: list[float] = []
        if consumer is not None:
            for partition, behind in consumer.partitions.items():
                position = consumer.positions.get(partition, -1)
                kept = self._still.get(partition)
                if behind == 0 or kept is None or kept[0] != position:
                    self._still[partition] = (position, now)
                elif now - kept[1] >= self.stall_s:
                    since.append(kept[1])
        if relay is not None and relay.seconds is not None and relay.seconds >= self.stall_s:
            since.append(now - relay.seconds)
        return min(since) if since else None


async def watch(
    consumer_lag: Callable[[], Awaitable[Lag]],
    relay_lag: Callable[[], Awaitable[Lag]],
    judged: Callable[[datetime | None], None],
    followed: Callable[[], bool],
    stop: asyncio.Event,
    stall_s: float,
    every_s: float = EVERY_S,
) -> None:
    """Judge every `every_s` while somebody follows (`followed`), until `stop`; `judged` is told
    since when the read side is delayed (wall clock), or None."""
    staleness = Staleness(stall_s)
    while not stop.is_set():
        if followed():
            consumer = await _sample(consumer_lag, "the workers' lag")
            relay = await _sample(relay_lag, "the relay's lag")
            now = time.monotonic()
            since = staleness.judge(consumer, relay, now)
            judged(None if since is None else datetime.now(UTC) - timedelta(seconds=now - since))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def _sample(lag: Callable[[], Awaitable[Lag]], what: str) -> Lag | None:
    try:
        return await asyncio.wait_for(lag(), EVERY_S)
    except Exception as exc:  # a dependency away: readiness says so; judge without it
        log.debug("freshness: %s unknown: %r", what, exc)
        return None
