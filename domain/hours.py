"""Opening hours and the local calendar day, both in the queue's own time zone."""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.config import OpeningHours, QueueConfig

_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])|24:00", re.ASCII)


def parse_hhmm(value: str) -> int | None:
    """Minutes since midnight for "HH:MM" ("24:00" closes at midnight); None if malformed."""
    if not _HHMM.fullmatch(value):
        return None
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def is_valid_timezone(name: str) -> bool:
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def local_time(config: QueueConfig, at: datetime) -> datetime:
    return at.astimezone(zone(config.timezone))


def local_day(config: QueueConfig, at: datetime) -> date:
    """The calendar day of `at` in the queue's time zone: daily numbers restart when it changes."""
    return local_time(config, at).date()


def _contains(interval: OpeningHours, weekday: int, second_of_day: float) -> bool:
    opens = parse_hhmm(interval.opens)
    closes = parse_hhmm(interval.closes)
    if interval.weekday != weekday or opens is None or closes is None:
        return False
    return opens * 60 <= second_of_day < closes * 60


def is_open_at(config: QueueConfig, at: datetime) -> bool:
    """Whether `at` falls inside an opening interval; no intervals means always open."""
    if not config.opening_hours:
        return True
    local = local_time(config, at)
    second_of_day = (
        local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1_000_000
    )
    weekday = local.weekday()
    return any(_contains(oh, weekday, second_of_day) for oh in config.opening_hours)
