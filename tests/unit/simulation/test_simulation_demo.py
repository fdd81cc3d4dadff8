"""`make run`'s demo plays a simulator scenario on the API's accelerated clock (issue 17)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

from domain.hours import zone
from simulation.scenario import load
from vq.demo import DEMO_LEAD, DEMO_SCENARIO, DEMO_SPEED, demo_clock, next_demo_clock


def test_the_demo_clock_starts_just_before_the_scenario_opens_on_an_open_day() -> None:
    scenario = load(DEMO_SCENARIO)
    saturday = date(2026, 11, 28)
    start, speed = demo_clock(saturday)
    local = (start + DEMO_LEAD).astimezone(zone(scenario.timezone))
    assert local.date() == saturday + timedelta(days=2)  # the clinic is closed at weekends
    assert local.hour * 60 + local.minute == scenario.opens
    assert speed == DEMO_SPEED > 1  # accelerated: a day in under an hour
    assert (scenario.closes - scenario.opens) * 60 / speed <= 3600
    monday = date(2026, 11, 30)
    assert (demo_clock(monday)[0] + DEMO_LEAD).astimezone(zone(scenario.timezone)).date() == monday


def test_each_run_of_the_demo_plays_a_later_day(tmp_path: Path) -> None:
    settings = SimpleNamespace(data_dir=tmp_path)
    first, _ = next_demo_clock(settings)  # type: ignore[arg-type]
    second, _ = next_demo_clock(settings)  # type: ignore[arg-type]
    assert second > first + timedelta(days=9)  # never stamps the queues earlier than before
