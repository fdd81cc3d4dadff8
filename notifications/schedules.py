"""When a scheduled message fires: pure time maths over the queue's time zone.

A daily message is set in wall-clock time ("18:00 in Europe/Berlin"), so its UTC instant moves
twice a year. Two wall times need a rule, because the zone's clock skips or repeats them:

* a time in the spring-forward gap (02:30 on the night the clocks jump from 02:00 to 03:00) does
  not exist that day; it fires at the first instant after the gap (03:00), so the day still gets
  its message, and as close to the asked time as the clock allows;
* a time in the fall-back overlap (02:30 when 03:00 goes back to 02:00) happens twice; it fires
  once, at the first of the two (fold=0), so nobody gets the same reminder twice.

No clock is read here: `after` is the caller's "now" (or the last occurrence), which keeps a
replay, and the tests, deterministic. Results are aware datetimes in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Recurrence = Literal["once", "daily"]


def validate_zone(name: str) -> str:
    """The zone's name if the tz database knows it; ValueError otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown time zone {name!r} (an IANA name like 'Europe/Berlin')") from exc
    return name


def next_occurrence(
    recurrence: Recurrence,
    *,
    local_time: time | None,
    at: datetime | None,
    time_zone: str,
    after: datetime,
) -> datetime | None:
    """The first occurrence strictly after `after`, in UTC; None when there is none (a one-off
    whose moment has passed)."""
    _require_aware(after, "after")
    if recurrence == "once":
        if at is None:
            raise ValueError("a one-off schedule needs its moment (at)")
        _require_aware(at, "at")
        return at.astimezone(UTC) if at > after else None
    if recurrence != "daily":
        raise ValueError(f"unknown recurrence {recurrence!r} (once or daily)")
    if local_time is None:
        raise ValueError("a daily schedule needs its local time")
    if local_time.tzinfo is not None:
        raise ValueError("a daily schedule's local time is a wall-clock time, without a zone")
    zone = ZoneInfo(validate_zone(time_zone))
    today = after.astimezone(zone).date()
    # The day before is looked at too: a gap pushes its occurrence later, possibly past `after`.
    for offset in range(-1, 3):
        candidate = _fire_on(today + timedelta(days=offset), local_time, zone)
        if candidate > after:
            return candidate
    raise AssertionError("a daily time fires at least once in any three days")  # pragma: no cover


def occurrences(
    recurrence: Recurrence,
    *,
    local_time: time | None,
    at: datetime | None,
    time_zone: str,
    after: datetime,
    until: datetime,
) -> list[datetime]:
    """Every occurrence in (after, until], in order, in UTC."""
    _require_aware(until, "until")
    found: list[datetime] = []
    cursor = after
    while True:
        moment = next_occurrence(
            recurrence, local_time=local_time, at=at, time_zone=time_zone, after=cursor
        )
        if moment is None or moment > until:
            return found
        found.append(moment)
        cursor = moment


def _fire_on(day: date, local_time: time, zone: ZoneInfo) -> datetime:
    """The UTC instant a daily `local_time` fires on the local `day`."""
    wall = datetime.combine(day, local_time.replace(fold=0), tzinfo=zone)
    instant = wall.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return instant  # the wall time exists (the first of two, in an overlap: fold=0)
    return _end_of_gap(wall, zone)


def _end_of_gap(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant after the gap `wall` falls in: the transition itself.

    Read with fold=0 a missing wall time takes the offset before the jump (so lands after the
    transition), with fold=1 the offset after it (so lands before): the transition lies between
    the two. Offsets change on whole seconds, so a bisection over seconds finds it exactly."""
    before = wall.replace(fold=1).astimezone(UTC)
    after = wall.replace(fold=0).astimezone(UTC)
    if before > after:  # pragma: no cover - a zone whose gap runs the other way
        before, after = after, before
    new_offset = after.astimezone(zone).utcoffset()
    low, high = 0, int((after - before).total_seconds())
    while low < high:  # the first second whose offset is the new one
        middle = (low + high) // 2
        if (before + timedelta(seconds=middle)).astimezone(zone).utcoffset() == new_offset:
            high = middle
        else:
            low = middle + 1
    return before + timedelta(seconds=low)


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (with a time zone)")
