"""When scheduled messages fire: once per local day at the local time, across both DST changes,
with the gap and the overlap each handled once."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifications.schedules import next_occurrence, occurrences, validate_zone

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def daily(
    local_time: time, zone: str, after: datetime, until: datetime | None = None
) -> list[datetime]:
    if until is None:
        found = next_occurrence(
            "daily", local_time=local_time, at=None, time_zone=zone, after=after
        )
        return [] if found is None else [found]
    return occurrences(
        "daily", local_time=local_time, at=None, time_zone=zone, after=after, until=until
    )


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "start", "end", "summer_hour", "winter_hour"),
    [
        # Berlin: CEST from March 29, CET from October 25 (2026).
        (BERLIN, date(2026, 3, 20), date(2026, 11, 5), 16, 17),
        # New York: EDT from March 8, EST from November 1 (2026).
        (NEW_YORK, date(2026, 3, 1), date(2026, 11, 10), 22, 23),
    ],
)
def test_a_daily_time_fires_once_a_local_day_across_both_changes(
    zone: str, start: date, end: date, summer_hour: int, winter_hour: int
) -> None:
    tz = ZoneInfo(zone)
    after = datetime.combine(start, time(0), tzinfo=tz)
    until = datetime.combine(end, time(0), tzinfo=tz)
    found = daily(time(18, 0), zone, after, until)
    local = [moment.astimezone(tz) for moment in found]
    assert [moment.date() for moment in local] == [
        start + timedelta(days=n) for n in range((end - start).days)
    ]
    assert {moment.time() for moment in local} == {time(18, 0)}
    assert all(moment.tzinfo is UTC for moment in found)
    hours = {moment.hour for moment in found}
    assert hours == {summer_hour, winter_hour}
    for moment in found:
        summer = bool(moment.astimezone(tz).dst())
        assert moment.hour == (summer_hour if summer else winter_hour)


def test_berlin_at_18_00_on_the_days_of_change() -> None:
    spring = daily(time(18, 0), BERLIN, utc(2026, 3, 28, 17, 0), utc(2026, 3, 30, 0, 0))
    assert spring == [utc(2026, 3, 29, 16, 0)]
    autumn = daily(time(18, 0), BERLIN, utc(2026, 10, 24, 17, 0), utc(2026, 10, 26, 0, 0))
    assert autumn == [utc(2026, 10, 25, 17, 0)]
    # The evening before each change still fires at summer (autumn) / winter (spring) time.
    assert daily(time(18, 0), BERLIN, utc(2026, 3, 28, 0, 0)) == [utc(2026, 3, 28, 17, 0)]
    assert daily(time(18, 0), BERLIN, utc(2026, 10, 24, 0, 0)) == [utc(2026, 10, 24, 16, 0)]


def test_a_time_in_the_spring_gap_fires_when_the_gap_ends() -> None:
    # 02:30 does not exist in Berlin on March 29, 2026: 02:00 CET becomes 03:00 CEST.
    found = daily(time(2, 30), BERLIN, utc(2026, 3, 27, 12, 0), utc(2026, 3, 30, 12, 0))
    local = [moment.astimezone(ZoneInfo(BERLIN)) for moment in found]
    assert [(m.day, m.hour, m.minute) for m in local] == [(28, 2, 30), (29, 3, 0), (30, 2, 30)]
    assert found[1] == utc(2026, 3, 29, 1, 0)  # the instant of the change
    # New York: 02:00 EST becomes 03:00 EDT on March 8, 2026.
    ny = daily(time(2, 30), NEW_YORK, utc(2026, 3, 8, 0, 0))
    assert ny == [utc(2026, 3, 8, 7, 0)]
    assert ny[0].astimezone(ZoneInfo(NEW_YORK)).time() == time(3, 0)


def test_a_time_in_the_autumn_overlap_fires_once_at_the_first() -> None:
    # 02:30 happens twice in Berlin on October 25, 2026 (CEST, then CET): once is enough.
    found = daily(time(2, 30), BERLIN, utc(2026, 10, 24, 12, 0), utc(2026, 10, 26, 12, 0))
    assert found == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    # Between the two 02:30s, the next one is the following day's.
    between = daily(time(2, 30), BERLIN, utc(2026, 10, 25, 0, 45))
    assert between == [utc(2026, 10, 26, 1, 30)]


def test_strictly_after() -> None:
    at_six = utc(2026, 6, 1, 16, 0)  # 18:00 in Berlin
    assert daily(time(18, 0), BERLIN, at_six) == [at_six + timedelta(days=1)]
    assert daily(time(18, 0), BERLIN, at_six - timedelta(microseconds=1)) == [at_six]


def test_once() -> None:
    moment = datetime(2026, 6, 1, 18, 0, tzinfo=ZoneInfo(BERLIN))
    before, after = utc(2026, 6, 1, 15, 0), utc(2026, 6, 1, 17, 0)
    found = next_occurrence("once", local_time=None, at=moment, time_zone=BERLIN, after=before)
    assert found == utc(2026, 6, 1, 16, 0) and found.tzinfo is UTC
    assert (
        next_occurrence("once", local_time=None, at=moment, time_zone=BERLIN, after=after) is None
    )
    assert (
        next_occurrence("once", local_time=None, at=moment, time_zone=BERLIN, after=found) is None
    )
    assert occurrences(
        "once", local_time=None, at=moment, time_zone=BERLIN, after=before, until=after
    ) == [found]


def test_bad_schedules_are_refused() -> None:
    now = utc(2026, 6, 1)
    with pytest.raises(ValueError, match="needs its moment"):
        next_occurrence("once", local_time=None, at=None, time_zone=BERLIN, after=now)
    with pytest.raises(ValueError, match="aware"):
        next_occurrence(
            "once", local_time=None, at=datetime(2026, 7, 1), time_zone="UTC", after=now
        )
    with pytest.raises(ValueError, match="aware"):
        next_occurrence(
            "daily", local_time=time(9), at=None, time_zone="UTC", after=datetime(2026, 1, 1)
        )
    with pytest.raises(ValueError, match="needs its local time"):
        next_occurrence("daily", local_time=None, at=None, time_zone=BERLIN, after=now)
    with pytest.raises(ValueError, match="unknown time zone"):
        next_occurrence("daily", local_time=time(9), at=None, time_zone="Mars/Olympus", after=now)
    with pytest.raises(ValueError, match="unknown recurrence"):
        next_occurrence("weekly", local_time=time(9), at=None, time_zone=BERLIN, after=now)  # type: ignore[arg-type]


def test_validate_zone() -> None:
    assert validate_zone("Europe/Berlin") == "Europe/Berlin"
    assert validate_zone("UTC") == "UTC"
    for bad in ("Europe/Nowhere", "", "../../etc/passwd", "/etc/localtime", "Europe/"):
        with pytest.raises(ValueError, match="unknown time zone"):
            validate_zone(bad)


def changes(tz: ZoneInfo) -> list[datetime]:
    """The zone's offset changes in 2026, to the hour."""
    hours = [utc(2026, 1, 1) + timedelta(hours=n) for n in range(366 * 24)]
    offsets = [hour.astimezone(tz).utcoffset() for hour in hours]
    return [hours[n] for n in range(1, len(hours)) if offsets[n] != offsets[n - 1]]


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK, "Australia/Lord_Howe", "Asia/Kolkata"])
def test_random_moments(zone: str) -> None:
    """Over a few hundred `after`s, half of them within two days of a change: later, within
    25 h, at the local time, or (only where that time did not exist) at the end of the gap."""
    rng = random.Random(f"schedules-{zone}")
    tz = ZoneInfo(zone)
    near = changes(tz)
    for n in range(400):
        if near and n % 2:
            after = rng.choice(near) + timedelta(seconds=rng.randrange(-2 * 86400, 2 * 86400))
        else:
            after = utc(2026, 1, 1) + timedelta(seconds=rng.randrange(366 * 86400))
        local_time = time(rng.choice([0, 1, 2, 3, 12, 18, 23]), rng.choice([0, 15, 30, 59]))
        [found] = daily(local_time, zone, after)
        assert after < found <= after + timedelta(hours=25)
        wall = found.astimezone(tz)
        if wall.time() != local_time:
            asked = datetime.combine(wall.date(), local_time, tzinfo=tz)
            assert asked.astimezone(UTC).astimezone(tz).time() != local_time  # it did not exist
            before_it = (found - timedelta(seconds=1)).astimezone(tz)
            assert before_it.utcoffset() != wall.utcoffset()  # found is the change itself
            assert before_it.time() < local_time < wall.time()
