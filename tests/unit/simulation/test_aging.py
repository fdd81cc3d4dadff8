"""The aging suggestion: which bound is suggested from replayed figures, the candidates a day
gets, and the command line (a table, the PATCH that would confirm it, nothing applied)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import date

import pytest

from domain.events import QueueEvent
from simulation.aging import MIN_GAIN, plans, suggest
from simulation.offline import decide_locally
from simulation.recorded import RecordedDay, learn
from simulation.replay import own_plan
from simulation.scenario import day_plans, load
from simulation.whatif import DayFigures, Variant, WhatIf
from simulation.world import commands
from vq.cli import main


@pytest.fixture(scope="module")
def day() -> RecordedDay:
    scenario = load("clinic")
    events: list[QueueEvent] = asyncio.run(decide_locally(commands(scenario, days=2, seed=1)))
    last: date = day_plans(scenario, 2)[-1].day
    return learn(events, last)


def _figures(over_twice: float, mean_wait: float) -> DayFigures:
    return DayFigures(
        joined=100, called=100, served=100, cancelled=0, no_shows=0, mean_wait=mean_wait,
        p90_wait=2 * mean_wait, within_target=0.5, over_twice=over_twice, counter_hours=8.0,
        finished=None,
    )  # fmt: skip


def _result(day: RecordedDay, *rows: tuple[int | None, float, float]) -> WhatIf:
    """The configured day (first row), then one variant per (bound minutes, share, mean)."""
    own = own_plan(day)
    variants = []
    for minutes, share, mean in rows:
        config = replace(own.config, aging_after_seconds=None if minutes is None else minutes * 60)
        variants.append(Variant(replace(own, config=config), [_figures(share, mean)] * 3))
    return WhatIf(day, _figures(rows[0][1], rows[0][2]), variants)


def test_the_fairest_bound_that_keeps_the_mean_wait_is_suggested(day: RecordedDay) -> None:
    result = _result(day, (None, 0.08, 600), (15, 0.02, 700), (30, 0.03, 640), (60, 0.07, 600))
    found = suggest(result)
    assert found is not None and found.aging_minutes == 30  # 15 min costs 17 % of mean wait
    assert (found.over_twice, found.was) == (0.03, 0.08)
    patch = found.patch(day)
    assert patch["aging_after_seconds"] == 1800
    assert "8.0 % -> 3.0 %" in str(patch["reason"]) and len(str(patch["reason"])) <= 500


def test_no_suggestion_when_fair_already_or_no_bound_helps_enough(day: RecordedDay) -> None:
    assert suggest(_result(day, (None, 0.0, 600), (30, 0.0, 590))) is None
    slight = 0.05 - MIN_GAIN / 2
    assert suggest(_result(day, (None, 0.05, 600), (30, slight, 600))) is None
    # Turning a configured bound off can be the suggestion too.
    off = suggest(_result(day, (10, 0.06, 600), (None, 0.02, 610)))
    assert off is not None and off.aging_minutes is None


def test_the_candidates_span_half_to_three_times_the_target(day: RecordedDay) -> None:
    target = day.config.target_wait_seconds // 60
    labels = [p.label for p in plans(day)]
    assert labels[0] == f"aging {max(5, round(target / 2 / 5) * 5)} min"
    assert labels[-1] == f"aging {max(5, round(3 * target / 5) * 5)} min"
    configured = replace(day, config=replace(day.config, aging_after_seconds=target * 60))
    again = [p.label for p in plans(configured)]
    assert again[0] == "no aging" and f"aging {target} min" not in again


def test_the_command_line_prints_the_bounds_and_changes_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        ["simulate", "--what-if", "--scenario", "clinic", "--seed", "1", "--days", "2",
         "--runs", "1", "--suggest-aging"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "as configured" in out and "aging 15 min" in out and "told, then waited > 2x" in out
    assert "Suggested:" in out or "No suggestion" in out
    code = main(
        ["simulate", "--what-if", "--scenario", "clinic", "--seed", "1", "--days", "2",
         "--runs", "1", "--suggest-aging", "--json"]
    )  # fmt: skip
    found = json.loads(capsys.readouterr().out)
    assert code == 0 and "suggested_patch" in found and len(found["variants"]) == 6
    assert main(["simulate", "--what-if", "--scenario", "clinic", "--seeds", "1-2",
                 "--suggest-aging"]) == 2  # fmt: skip
