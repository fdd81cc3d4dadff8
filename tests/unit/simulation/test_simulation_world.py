"""The simulated world: reproducible, arrivals that follow the profile, impatience that grows."""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from domain.events import (
    CounterBreakSet,
    QueueEvent,
    TicketCalled,
    TicketCancelled,
    TicketEnqueued,
    TicketNoShow,
)
from simulation.offline import decide_locally
from simulation.scenario import day_plans, load, shipped
from simulation.world import commands, sample_arrivals


def fold(name: str, days: int, seed: int) -> list[QueueEvent]:
    """The events of `days` days of a scenario, decided and folded locally."""
    return asyncio.run(decide_locally(commands(load(name), days=days, seed=seed)))


def test_every_shipped_scenario_loads() -> None:
    assert set(shipped()) >= {
        "clinic",
        "bank_branch",
        "public_office",
        "lunch_rush",
        "cold_start",
        "fast_lane",
    }
    for name in shipped():
        scenario = load(name)
        assert scenario.name == name
        assert scenario.service_types
        assert any(t.sigma >= 0.3 for t in scenario.service_types)  # skewed services
        assert any(len(c.shifts) > 1 for c in scenario.counters)  # breaks
        assert sum(s for p, s in scenario.priorities if p != "normal") > 0  # priorities
        assert scenario.behaviour.patience_shape > 1  # impatience grows with the wait


def test_the_new_scenarios_are_a_cold_start_and_a_fast_lane() -> None:
    cold, fast = load("cold_start"), load("fast_lane")
    # Scored from the first ticket, and nobody told the queue what a service takes.
    assert cold.warmup_days == 0 and fast.warmup_days == 0
    assert cold.queue_config.mean_service_seconds == 0
    assert fast.queue_config.mean_service_seconds == 0
    # Minute-scale against second-scale services: 2-6 s at the gates.
    assert 180 <= cold.service_types[0].median_seconds <= 300
    median = fast.service_types[0].median_seconds
    assert median * math.exp(-1.28 * fast.service_types[0].sigma) >= 2
    assert median * math.exp(1.28 * fast.service_types[0].sigma) <= 6


def test_a_seeded_day_is_reproducible() -> None:
    first = fold("clinic", 1, seed=7)
    again = fold("clinic", 1, seed=7)
    other = fold("clinic", 1, seed=8)
    assert len(first) > 200
    assert first == again
    assert first != other


def test_the_commands_are_timed_and_in_order() -> None:
    stream = commands(load("lunch_rush"), days=1, seed=1)
    times: list[datetime] = []
    try:
        timed = next(stream)
        while True:
            times.append(timed.at)
            timed = stream.send([])  # a live driver whose commands all failed still gets on
    except StopIteration:
        pass
    assert times == sorted(times)
    assert all(t.tzinfo is not None for t in times)


def test_arrivals_follow_the_rate_profile() -> None:
    scenario = load("lunch_rush")
    plans = day_plans(scenario, 40)
    rng = random.Random(3)
    per_hour: Counter[int] = Counter()
    for plan in plans:
        for t in sample_arrivals(scenario, plan, rng):
            per_hour[int(plan.minute_of_day(t) // 60)] += 1
    for hour in range(scenario.opens // 60, scenario.closes // 60):
        expected = sum(
            scenario.rate_per_hour(plan.weekday, hour * 60 + m + 0.5) / 60
            for plan in plans
            for m in range(60)
        )
        assert per_hour[hour] == pytest.approx(expected, rel=0.12), hour
    # The profile is uneven (a rush), and the arrivals show it.
    assert per_hour[12] > 2.5 * per_hour[10]


def test_walk_aways_grow_with_the_wait() -> None:
    """Of the people still waiting after w minutes, the share who give up in the next 15
    minutes (cancel, or walk away and miss their call) is higher for longer waits."""
    events = fold("public_office", 3, seed=2)
    joined: dict[str, datetime] = {}
    left: dict[str, tuple[float, bool]] = {}  # ticket -> (minutes waited, gave up)
    walked = {e.ticket_id for e in events if isinstance(e, TicketNoShow)}
    for event in events:
        if isinstance(event, TicketEnqueued):
            joined[event.ticket_id] = event.at
        elif isinstance(event, TicketCalled | TicketCancelled) and event.ticket_id in joined:
            if event.ticket_id in left:
                continue
            minutes = (event.at - joined[event.ticket_id]).total_seconds() / 60
            gave_up = isinstance(event, TicketCancelled) or event.ticket_id in walked
            left[event.ticket_id] = (minutes, gave_up)

    def rate(start: float) -> float:
        at_risk = [g for m, g in left.values() if m >= start]
        gave_up = [g for m, g in left.values() if start <= m < start + 15 and g]
        return len(gave_up) / max(len(at_risk), 1)

    assert rate(45) > 1.5 * rate(0)


def test_a_planned_break_is_told_ahead_and_one_as_they_go_when_it_begins() -> None:
    """cold_start's desk 3 plans its 10:40-11:10 break an hour ahead (`break_notice_minutes`);
    with no notice, staff tell the queue as they go. Either way the break is the gap between
    the counter's two shifts."""

    def told(notice: float) -> list[CounterBreakSet]:
        scenario = load("cold_start")
        scenario = replace(scenario, behaviour=replace(scenario.behaviour, break_notice=notice))
        events = asyncio.run(decide_locally(commands(scenario, days=1, seed=1)))
        return [e for e in events if isinstance(e, CounterBreakSet)]

    assert load("cold_start").behaviour.break_notice == 3600.0
    paris = ZoneInfo("Europe/Paris")
    (planned,) = told(3600.0)
    (as_they_go,) = told(0.0)
    for event in (planned, as_they_go):
        assert event.counter == "3"
        assert event.ends_at.astimezone(paris).strftime("%H:%M") == "11:10"
    assert planned.at.astimezone(paris).strftime("%H:%M") == "09:40"
    assert planned.starts_at.astimezone(paris).strftime("%H:%M") == "10:40"
    assert as_they_go.at == as_they_go.starts_at
    assert as_they_go.at.astimezone(paris).strftime("%H:%M") == "10:40"
