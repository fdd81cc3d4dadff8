"""The staffing plan: a forecast from the history's events, counters per quarter hour found by
simulation, checked on fresh days and on the scenario itself, and the plan as an editable file."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import statistics
from datetime import UTC, date, timedelta
from pathlib import Path

import pytest

from simulation.offline import decide_locally
from simulation.recorded import RecordedDay
from simulation.scenario import Scenario, day_plans, load
from simulation.staffing import (
    MARGIN,
    alike,
    forecast,
    history,
    model,
    plan,
    staffed,
)
from simulation.staffing_cli import next_day, read_plan, write_plan
from simulation.world import commands
from vq.cli import main

DAYS = 10
RUNS = 8


@pytest.fixture(scope="module")
def lunch() -> tuple[list[RecordedDay], date, Scenario]:
    scenario = load("lunch_rush")
    plans = day_plans(scenario, DAYS + 1)
    events = asyncio.run(decide_locally(commands(scenario, days=DAYS, seed=2)))
    return history(events, [p.day for p in plans[:DAYS]]), plans[DAYS].day, scenario


def test_the_forecast_is_the_same_weekdays_arrivals_per_quarter_hour(
    lunch: tuple[list[RecordedDay], date, Scenario],
) -> None:
    days, day, _ = lunch
    same = alike(days, day)
    assert len(same) == 2 and all(d.day.weekday() == day.weekday() for d in same)
    fc = forecast(days, day)
    assert fc.days == 2 and len(fc.slots) == len(fc.arrivals) == 20  # 10:00-15:00
    assert all(b - a == 900 for a, b in itertools.pairwise(fc.slots))
    # Smoothing moves people between neighbouring quarter hours, never in or out of the day.
    joined = statistics.fmean(len(d.visits) for d in same)
    assert sum(fc.arrivals) == pytest.approx(joined, abs=1.0)
    busiest = max(range(20), key=lambda k: fc.arrivals[k])
    assert 8 <= busiest <= 12  # the lunch rush: noon to 13:00


def test_counts_per_quarter_hour_become_shifts(
    lunch: tuple[list[RecordedDay], date, Scenario],
) -> None:
    days, day, _ = lunch
    fc = forecast(days, day)
    counts = [1] * len(fc.slots)
    counts[8:12] = [3, 3, 2, 3]  # 12:00-13:00
    shaped = staffed(model(days, fc), fc, counts)
    shifts = {c.name: c.shifts for c in shaped.counters}
    assert shifts == {"1": ((600, 900),), "2": ((720, 780),), "3": ((720, 750), (765, 780))}
    assert shaped.queue_config.counters == ("1", "2", "3")


def test_more_counters_keep_more_days_within_target(
    lunch: tuple[list[RecordedDay], date, Scenario],
) -> None:
    days, day, _ = lunch
    slots = len(forecast(days, day).slots)
    lean = plan(days, day, confidence=0.8, counts=[1] * slots, check_runs=RUNS)
    ample = plan(days, day, confidence=0.8, counts=[6] * slots, check_runs=RUNS)
    assert sum(r.under for r in lean.checked) <= 1
    assert all(r.under for r in ample.checked)
    assert ample.counter_hours() == 6 * 5.0 and lean.counter_hours() == 5.0


def test_the_plan_found_keeps_its_share_and_is_leaner_than_plenty(
    lunch: tuple[list[RecordedDay], date, Scenario],
) -> None:
    days, day, truth = lunch
    found = plan(days, day, confidence=0.8, truth=truth, check_runs=RUNS, search_runs=RUNS)
    assert found.searched >= 0.8 + MARGIN  # on days of its own validation
    assert all(c >= 1 for c in found.counts)
    assert found.counter_hours() < 6 * 5.0
    assert len(found.truth) == len(found.checked) == RUNS


def test_the_plan_file_round_trips_and_bad_files_are_refused(
    lunch: tuple[list[RecordedDay], date, Scenario], tmp_path: Path
) -> None:
    days, day, _ = lunch
    slots = len(forecast(days, day).slots)
    made = plan(days, day, confidence=0.8, counts=[2] * slots, check_runs=1)
    path = tmp_path / "plan.csv"
    write_plan(made, path)
    lines = path.read_text().splitlines()
    assert lines[0] == "time,forecast,counters" and lines[1].startswith("10:00,")
    assert read_plan(path) == [2] * slots
    path.write_text(path.read_text().replace(",2\n", ",two\n", 1))
    with pytest.raises(ValueError, match="line 2"):
        read_plan(path)
    path.write_text("time,people\n10:00,3\n")
    with pytest.raises(ValueError, match="counters"):
        read_plan(path)


def test_the_command_line_checks_an_edited_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plan.csv"
    path.write_text("time,forecast,counters\n" + "".join(f"x,0,{5}\n" for _ in range(20)))
    args = ["simulate", "--staffing", "--scenario", "lunch_rush", "--days", "5"]
    code = main([*args, "--plan", str(path), "--check"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("Staffing plan:") and "counter-hours: 25.0" in out
    assert "Played on the scenario itself: P90 within target on 20 of 20 days" in out
    path.write_text("time,forecast,counters\n" + "x,0,1\n" * 20)
    assert main([*args, "--plan", str(path), "--check"]) == 1  # one counter: misses
    capsys.readouterr()
    path.write_text("time,forecast,counters\nx,0,1\n")
    assert main([*args, "--plan", str(path)]) == 2  # a plan of one slot for a day of 20
    assert "20" in capsys.readouterr().err
    assert main(["simulate", "--staffing", "--scenario", "all"]) == 2
    assert main(["simulate", "--staffing", "--scenario", "clinic", "--confidence", "1.5"]) == 2


def test_a_queues_next_day_is_the_next_it_opens() -> None:
    scenario = load("clinic")  # open Monday to Friday
    events = asyncio.run(decide_locally(commands(scenario, days=5, seed=1)))
    last = day_plans(scenario, 5)[-1].day
    assert last.weekday() == 4  # a Friday
    assert next_day(events) == last + timedelta(days=3)  # the Monday after
    shorter = [e for e in events if e.at.astimezone(UTC).date() <= last - timedelta(days=1)]
    assert next_day(shorter) == last  # a Thursday's next is the Friday


def test_a_plan_keeps_each_counter_an_hour_and_fills_short_dips() -> None:
    from simulation.staffing import steady

    assert steady([1, 1, 3, 1, 1, 1, 1, 2, 1, 2]) == [1, 1, 3, 3, 3, 3, 1, 2, 2, 2]
    assert steady([2, 1, 2], slots=1) == [2, 1, 2]
    made = [1, 2, 1, 2, 2, 1, 1, 1, 1]
    kept = steady(made)
    assert all(a >= b for a, b in zip(kept, made, strict=True))  # only ever adds counters


def test_a_plan_that_leaves_people_waiting_for_good_fails_and_one_with_no_counter_is_refused(
    lunch: tuple[list[RecordedDay], date, Scenario],
) -> None:
    days, when, _ = lunch
    slots = len(forecast(days, when).slots)
    early_only = plan(days, when, confidence=0.8, counts=[2] + [0] * (slots - 1), check_runs=2)
    assert all(r.unserved > 0 and not r.under for r in early_only.checked)
    with pytest.raises(ValueError, match="no counter"):
        plan(days, when, confidence=0.8, counts=[0] * slots, check_runs=1)


def test_a_history_where_nobody_was_served_is_refused_with_a_reason(
    lunch: tuple[list[RecordedDay], date, Scenario],
) -> None:
    days, when, _ = lunch
    unserved = [
        dataclasses.replace(d, visits=tuple(dataclasses.replace(v, service=None) for v in d.visits))
        for d in days
    ]
    with pytest.raises(ValueError, match="nobody has been served"):
        plan(unserved, when, confidence=0.8, check_runs=1)
