"""The offline fold end to end: the acceptance on a scenario, the oracle, the command line."""

from __future__ import annotations

import json

import pytest

from simulation.offline import RunResult, run
from simulation.report import passes, summary, table
from simulation.scenario import load
from vq.cli import main


@pytest.fixture(scope="module")
def lunch_rush() -> RunResult:
    # Two weeks: the first warms the estimators up, the second is scored (the command's
    # default; every shipped scenario is shown by `vq simulate --offline`).
    return run(load("lunch_rush"), days=10, seed=1, warmup_days=5)


def test_the_served_estimator_meets_the_acceptance(lunch_rush: RunResult) -> None:
    result = lunch_rush
    served = result.figures["served"]
    oracle = result.paired["oracle"]
    ratio = result.ratio()
    assert served.called > 500
    assert ratio is not None and ratio >= 0.9
    assert served.coverage is not None and 0.75 <= served.coverage <= 0.85
    # The oracle knows the truth: its own range is honest too.
    assert oracle.coverage is not None and 0.7 <= oracle.coverage <= 0.9
    assert passes(result)
    assert "PASS" in summary([result])
    assert "within 20%" in table(result)


def test_the_warm_up_is_scored_apart(lunch_rush: RunResult) -> None:
    warm = lunch_rush.warmup["served"]
    scored = lunch_rush.figures["served"]
    assert warm.estimated > 0 and scored.estimated > 0
    assert warm.estimated + scored.estimated == lunch_rush.totals["arrived"]


def test_the_command_prints_the_tables(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "simulate",
            "--offline",
            "--scenario",
            "clinic",
            "--days",
            "2",
            "--warmup-days",
            "1",
            "--oracle-every",
            "4",
            "--jobs",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    for name in ("rules", "learned", "served", "oracle", "acceptance"):
        assert name in out


def test_a_mode_must_be_chosen(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--scenario", "clinic"]) == 2
    err = capsys.readouterr().err
    assert "--offline" in err and "--live" in err


def _arrived(capsys: pytest.CaptureFixture[str], *extra: str) -> int:
    args = ["simulate", "--offline", "--scenario", "clinic", "--days", "1"]
    code = main([*args, "--warmup-days", "0", "--no-oracle", "--jobs", "1", "--json", *extra])
    assert code == 0
    (result,) = json.loads(capsys.readouterr().out)
    return int(result["figures"]["served"]["estimated"])


def test_offline_plays_the_day_of_date_as_a_live_run_of_that_date_would(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The clinic's Mondays are a quarter busier (weekday_factor): a live run on a Tuesday (the
    # demo's day, say) compares with an offline run of that Tuesday, not of the first Monday.
    monday = _arrived(capsys)
    assert _arrived(capsys, "--date", "2024-03-04") == monday
    tuesday = _arrived(capsys, "--date", "2024-03-05")
    assert tuesday < 0.9 * monday


def test_a_date_that_is_no_date_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--offline", "--scenario", "clinic", "--date", "2024-13-01"]) == 2
    assert "--date '2024-13-01' is no YYYY-MM-DD date" in capsys.readouterr().err
