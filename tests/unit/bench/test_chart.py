"""The benchmark's chart draws a panel for each thing a run measured and no empty frame: a run of
some phases only (BENCH_ONLY) left blank axes where the others would be."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import chart

PROPAGATION: dict[str, Any] = {
    "rate": 400.0,
    "stages": {"relay": {"n": 0}, "worker": {"n": 0}},
    "read_model": {"p50": 80.0, "p95": 150.0, "p99": 190.0},
    "sse": None,
    "timeline": [
        {"t": 0.0, "n": 200, "p50_ms": 80.0, "p99_ms": 190.0, "max_ms": 200.0, "unseen": 0},
        {"t": 0.5, "n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None, "unseen": 3},
    ],
}


def test_a_propagation_only_run_gets_its_two_panels_and_nothing_else(tmp_path: Path) -> None:
    out = {"started": "t", "machine": {"cores": 2, "cpu": "x"}, "propagation": PROPAGATION}
    assert chart._panels(out) == [chart._propagation, chart._propagation_timeline]
    chart.draw(json.loads(json.dumps(out)), tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 0


def test_a_run_without_the_timeline_still_gets_its_propagation_bars() -> None:
    older = {key: value for key, value in PROPAGATION.items() if key != "timeline"}
    assert chart._panels({"propagation": older}) == [chart._propagation]
