"""The unusual-arrivals watch: one alert per rush, none on usual days, nothing before it knows
what is usual, and a rush never becomes the usual."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from domain.anomaly import MIN_DAYS, Alert, ArrivalWatch, tail
from domain.events import QueueClosed, QueueEvent, QueueOpened, TicketEnqueued
from simulation.anomalies import run
from simulation.scenario import load

MONDAY = datetime(2024, 3, 4, tzinfo=UTC)


def _enqueued(at: datetime, n: int) -> TicketEnqueued:
    return TicketEnqueued(
        ticket_id=f"t{n}",
        number=f"A-{n}",
        daily_number=n,
        seq=n,
        priority="normal",
        service_type=None,
        channel="kiosk",
        personal=None,
        at=at,
    )


def _day(week: int, per_slot: list[int]) -> list[QueueEvent]:
    """A Monday 09:00-10:00 (UTC) with `per_slot` people joining in each quarter hour, evenly."""
    opens = MONDAY + timedelta(weeks=week, hours=9)
    events: list[QueueEvent] = [QueueOpened(at=opens)]
    for slot, count in enumerate(per_slot):
        for k in range(count):
            at = opens + timedelta(minutes=15 * slot, seconds=(k + 0.5) * 900 / count)
            events.append(_enqueued(at, 1000 * week + 100 * slot + k))
    events.append(QueueClosed(reason=None, at=opens + timedelta(hours=1)))
    return events


def _alerts(watch: ArrivalWatch, events: list[QueueEvent]) -> list[Alert]:
    return [a for e in events if (a := watch.observe(e)) is not None]


def test_the_tail_is_a_probability_that_falls_with_the_count() -> None:
    assert tail(0, 20, 4) == pytest.approx(1.0)
    values = [tail(k, 20, 4) for k in range(0, 30, 3)]
    assert all(a > b for a, b in itertools.pairwise(values))
    assert tail(17, 20, 4) < 1e-4 < tail(10, 20, 4)  # five a slot: 17 is unusual, 10 is not


def test_a_rush_is_told_once_in_its_slot_and_usual_days_say_nothing() -> None:
    watch = ArrivalWatch("UTC")
    for week in range(4):
        assert _alerts(watch, _day(week, [5, 5, 5, 5])) == []
    events = _day(4, [5, 20, 20, 5])
    alerts = _alerts(watch, events)
    assert len(alerts) == 1  # one rush of half an hour: one alert
    (alert,) = alerts
    assert alert.kind == "arrivals" and (alert.weekday, alert.slot) == (0, 37)  # 09:15
    assert alert.at < MONDAY + timedelta(weeks=4, hours=9, minutes=30)  # within its slot
    assert alert.usual == pytest.approx(5.0, abs=0.5)
    assert "09:15" in alert.describe() and "the usual" in alert.describe()
    # The rush was not learned as usual: the next Monday at five a slot says nothing, and the
    # same rush again is unusual again.
    assert list(watch.history[(0, 37)]) == [5, 5, 5, 5]
    assert _alerts(watch, _day(5, [5, 5, 5, 5])) == []
    assert len(_alerts(watch, _day(6, [5, 20, 5, 5]))) == 1


def test_a_rush_that_goes_on_is_one_alert_until_calm_returns() -> None:
    watch = ArrivalWatch("UTC")
    for week in range(4):
        _alerts(watch, _day(week, [5, 5, 5, 5]))
    assert len(_alerts(watch, _day(4, [20, 20, 20, 20]))) == 1  # an hour of rush
    watch = ArrivalWatch("UTC")
    for week in range(4):
        _alerts(watch, _day(week, [5, 5, 5, 5, 5, 5]))
    # A rush, two calm slots (the watch re-arms), then another rush: two alerts.
    assert len(_alerts(watch, _day(4, [20, 5, 5, 20, 5, 5]))) == 2


def test_nothing_is_unusual_before_enough_days_of_that_weekday() -> None:
    watch = ArrivalWatch("UTC")
    for week in range(MIN_DAYS - 1):
        _alerts(watch, _day(week, [5, 5, 5, 5]))
    assert _alerts(watch, _day(MIN_DAYS - 1, [5, 40, 5, 5])) == []


def test_a_scenarios_injected_rush_is_one_alert_and_its_normal_days_none() -> None:
    found = run(load("lunch_rush"), seed=1)
    assert found.normal_days() == 30
    assert found.false_alerts() == 0
    assert len(found.rush_alerts()) == 1 and (found.told_within() or 99) <= 2
    assert found.passes()
    quiet = run(load("lunch_rush"), seed=1, factor=1.0)
    assert quiet.alerts == {} and quiet.passes()
