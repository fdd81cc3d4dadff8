"""The rate limits as one API process counts them while Redis does not answer (http_api/
ratelimit.py): a fixed minute per caller from its first request, refused past the limit until that
minute ends. With N replicas a caller gets up to N times its limit meanwhile: a bound, where
serving unlimited would be none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from cachetools import TTLCache

WINDOW_S: Final = 60
# Callers remembered at once (the least recently counted go first).
MAX_CALLERS: Final = 100_000


class LocalLimits:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        # identity -> [when its minute began, requests counted in it]
        self._minutes: TTLCache[str, list[float]] = TTLCache(MAX_CALLERS, WINDOW_S, clock)

    def decide(self, identity: str, per_minute: int) -> tuple[bool, int, int, float]:
        """(allowed, the limit, requests left, seconds until the minute ends) for one more
        request of `identity`, counted if allowed."""
        now = self._clock()
        minute = self._minutes.get(identity)
        if minute is None or now >= minute[0] + WINDOW_S:
            minute = self._minutes[identity] = [now, 0]
        ends_in = minute[0] + WINDOW_S - now
        if minute[1] >= per_minute:
            return False, per_minute, 0, ends_in
        minute[1] += 1
        return True, per_minute, per_minute - int(minute[1]), ends_in
