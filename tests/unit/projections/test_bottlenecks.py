"""projections.bottlenecks on hand-made analytics buckets: each kind found from its evidence
alone, and nothing without enough history or when a counter is busy with a long service."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from projections.analytics_report import Bucket
from projections.bottlenecks import Evidence, binomial_tail, find, windows

BERLIN = "Europe/Berlin"
NOW = datetime(2026, 11, 30, 10, 20, tzinfo=ZoneInfo(BERLIN))  # a Monday, 10:20


def _day(weeks_ago: int, **counts: int) -> list[Bucket]:
    """Buckets 08:00-11:00 of the Monday `weeks_ago` before NOW, each with `counts`."""
    day = (NOW.replace(tzinfo=None) - timedelta(weeks=weeks_ago)).replace(
        hour=8, minute=0, tzinfo=ZoneInfo(BERLIN)
    )
    return [
        Bucket(start=int((day + timedelta(minutes=15 * i)).timestamp()), counts=dict(counts))
        for i in range(12)
    ]


USUAL = {
    "arrivals": 6,
    "called": 6,
    "served": 6,
    "no_shows": 0,
    "c:1:busy_ms": 800_000,
    "c:1:served": 3,
    "c:1:service_ms": 900_000,
    "c:2:busy_ms": 800_000,
    "c:2:served": 3,
    "c:2:service_ms": 900_000,
    "t:served:x": 6,
    "t:service_ms:x": 1_800_000,
    "t:service_s2:x": 6 * 300**2 + 6 * 40**2,
}


def _evidence(
    today: list[Bucket], days: int = 4, waiting: int = 10, at_counters: tuple[str, ...] = ()
) -> Evidence:
    past = [_day(week, **USUAL) for week in range(1, days + 1)]
    return Evidence.of(today, past, NOW, BERLIN, waiting, at_counters)


def test_a_usual_day_has_no_finding() -> None:
    assert find(_evidence(_day(0, **USUAL))) == []


def test_the_window_is_the_last_hour_in_local_time_and_past_days_scale_its_last_quarter() -> None:
    today, past = windows(NOW, BERLIN)
    local = [datetime.fromtimestamp(s, tz=ZoneInfo(BERLIN)).strftime("%H:%M") for s in today.starts]
    assert local == ["09:30", "09:45", "10:00", "10:15"]
    assert abs(today.last_share - 1 / 3) < 1e-9 and not today.scaled
    # Eight weeks back crosses the end of summer time: still 09:30 on the wall clock.
    day, window = past[-1]
    first = datetime.fromtimestamp(window.starts[0], tz=ZoneInfo(BERLIN))
    assert (first.hour, first.minute, day.month) == (9, 30, 10)
    assert window.scaled and abs(window.hours() - 50 / 60) < 1e-9


def test_an_idle_counter_is_found_unless_somebody_is_at_it() -> None:
    today = _day(0, **{k: v for k, v in USUAL.items() if not k.startswith("c:2")})
    found = find(_evidence(today))
    assert [(f.kind, f.subject) for f in found] == [("counter_idle", "2")]
    assert found[0].evidence["usual_days"] == 4
    assert round(found[0].people_per_hour) == 12  # 300 s a service: 12 an hour lost
    assert find(_evidence(today, at_counters=("2",))) == []  # a long service under way
    assert find(_evidence(today, waiting=0)) == []  # nobody waits: nothing limits
    assert find(_evidence(today, days=2)) == []  # two weeks of history are not "usually"


def test_slower_service_needs_enough_served_and_a_clear_gap() -> None:
    slow = {**USUAL, "t:service_ms:x": 6 * 480_000}
    found = find(_evidence(_day(0, **slow)))
    assert [(f.kind, f.subject) for f in found] == [("slower_service", "x")]
    assert found[0].evidence["ratio"] == 1.6
    few = {**slow, "t:served:x": 1, "t:service_ms:x": 480_000}  # 4 in the hour: too few
    assert find(_evidence(_day(0, **few))) == []
    mild = {**USUAL, "t:service_ms:x": 6 * 330_000}  # 1.1x: within the usual
    assert find(_evidence(_day(0, **mild))) == []


def test_no_show_spike_and_arrivals_above_usual() -> None:
    spiky = {**USUAL, "no_shows": 2, "called": 6}
    kinds = [f.kind for f in find(_evidence(_day(0, **spiky)))]
    assert kinds == ["no_show_spike"]
    rush = {**USUAL, "arrivals": 18}
    found = find(_evidence(_day(0, **rush)))
    assert [f.kind for f in found] == ["arrivals_above_usual", "line_growing"]
    assert found[0].evidence["usual_arrivals"] == 20.0  # 3 quarter hours and a third of one


def test_binomial_tail() -> None:
    assert binomial_tail(0, 10, 0.1) == 1.0
    assert abs(binomial_tail(1, 10, 0.1) - (1 - 0.9**10)) < 1e-12
    assert binomial_tail(11, 10, 0.5) == 0.0
