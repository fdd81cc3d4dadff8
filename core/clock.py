"""The service's clock: real UTC time, or a scenario's day played faster.

Events are stamped with this clock and opening hours and aging are judged by it, so a live
simulation of a clinic's morning needs the API to believe it is that morning, and an hour to pass
in half a minute. The accelerated clock scales monotonic time, so it never jumps when the
machine's wall clock is adjusted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from core.settings import Settings

# What every part that stamps or judges time is given (never `datetime.now` inside the rules).
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class ScaledClock:
    """`start` plus the monotonic time elapsed since this clock was made, times `speed`."""

    def __init__(
        self, start: datetime, speed: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock's start needs a UTC offset")
        if not speed > 0:
            raise ValueError("the clock's speed must be > 0")
        self.start = start.astimezone(UTC)
        self.speed = speed
        self._monotonic = monotonic
        self._origin = monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(self._monotonic() - self._origin) * self.speed)


def service_clock(settings: Settings) -> Clock:
    """The clock `settings` ask for: real time, unless a start or a speed other than 1 is set
    (a speed alone accelerates from the real time at start-up)."""
    if settings.clock_start is None and settings.clock_speed == 1.0:
        return utcnow
    return ScaledClock(settings.clock_start or utcnow(), settings.clock_speed)
