"""Which queues another writer (a replica) appends to as well, as this process found out.

A process decides a command on the state it holds and appends in one statement that fails if
the queue moved on (service_layer/queues.py). The state was folded forward to answer the
command, so after such a failure it is rebuilt: from the newest snapshot and up to a snapshot's
spacing of events, decoded. Where replicas share a queue (commands land on either), that would
happen to about every other command. So a queue whose append failed behind another writer's is
*contended* for HOLD_S: its commands first fold in just the events appended since (one read, one
or two events usually), then append in one statement as before. A queue so busy that appends
still fail after that (a share of them above HOT_SHARE, smoothed) is *hot*: its commands are
decided under its write lock, which cannot fail. Once HOLD_S has passed since its last failure,
a queue is neither.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from cachetools import LRUCache

HOLD_S = 30.0
SMOOTHING = 0.2  # the weight of the newest append in the failed share
HOT_SHARE = 0.35  # two failures in a row make a queue hot; a failure between successes does not
CONTENDED, HOT = 1, 2


class Contention:
    def __init__(
        self,
        hold_s: float = HOLD_S,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hold_s, self._clock = hold_s, clock
        # stream -> [when an append last failed behind another writer, the failed share]
        self._seen: LRUCache[str, list[float]] = LRUCache(size)

    def saw(self, streams: Iterable[str]) -> None:
        """An append to these streams failed: another writer appended since this process read."""
        now = self._clock()
        for stream in streams:
            share = self._share(stream, now)
            self._seen[stream] = [now, share + SMOOTHING * (1.0 - share)]

    def fine(self, streams: Iterable[str]) -> None:
        """An append to these contended streams went through."""
        for stream in streams:
            if (entry := self._seen.get(stream)) is not None:
                entry[1] *= 1.0 - SMOOTHING

    def level(self, streams: Iterable[str]) -> int:
        """0, CONTENDED or HOT: the highest of these streams'."""
        now, found = self._clock(), 0
        for stream in streams:
            if (entry := self._seen.get(stream)) is not None and now - entry[0] < self._hold_s:
                found = max(found, HOT if entry[1] >= HOT_SHARE else CONTENDED)
        return found

    def _share(self, stream: str, now: float) -> float:
        entry = self._seen.get(stream)
        return 0.0 if entry is None or now - entry[0] >= self._hold_s else entry[1]
