"""Which queues another writer (a replica) appended to lately, as this process found out.

A process decides a command on the state it holds and appends in one statement that fails if
the queue moved on (service_layer/queues.py). The state was folded forward to answer the
command, so after such a failure it is rebuilt: from the newest snapshot and up to a snapshot's
spacing of events, decoded. Where replicas share a queue (commands land on either), that would
happen to about every other command. So a queue that saw a concurrent append is *contended* for
a while: its commands are decided under its write lock on the state held, caught up first with
just the events since (one or two, usually); the one-statement path comes back once nobody else
has written it for HOLD_S.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from cachetools import LRUCache

HOLD_S = 30.0


class Contention:
    def __init__(
        self,
        hold_s: float = HOLD_S,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hold_s, self._clock = hold_s, clock
        self._seen: LRUCache[str, float] = LRUCache(size)

    def saw(self, streams: Iterable[str]) -> None:
        """Another writer appended to these streams since this process last read them."""
        now = self._clock()
        for stream in streams:
            self._seen[stream] = now

    def any(self, streams: Iterable[str]) -> bool:
        now = self._clock()
        return any(now - self._seen.get(stream, -self._hold_s) < self._hold_s for stream in streams)
