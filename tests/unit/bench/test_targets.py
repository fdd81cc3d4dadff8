"""Issue 14's rows in the benchmark's targets: the whole stack's figures and the library ratio."""

from __future__ import annotations

from typing import Any

from bench import library_append, pipeline_report, report


def _propagation(rate: float, answered: float, cores: dict[str, float]) -> dict[str, Any]:
    return {
        "rate": rate,
        "commands": {
            "offered_per_s": rate,
            "achieved_per_s": answered,
            "sent": int(answered * 10),
            "errors": 0,
            "latency": {"p99": 40.0},
        },
        "cores": cores,
        "read_model": {"p99": 120.0, "not_seen": 0},
        "sse": {"p99": 130.0, "not_seen": 2},
    }


def _row(rows: list[dict[str, Any]], start: str) -> dict[str, Any]:
    return next(row for row in rows if row["target"].startswith(start))


def test_cpu_per_command_sums_the_product_and_leaves_the_measuring_out() -> None:
    cores = {"api": 0.3, "worker": 0.2, "kafka": 0.4, "postgres": 0.1, "loadgen": 0.5}
    total, parts = pipeline_report.cpu_per_command(_propagation(150, 100.0, cores))
    assert parts["api"] == 3.0 and parts["kafka"] == 4.0 and "loadgen" not in parts
    assert total == 10.0


def test_whole_stack_rows_are_met_only_at_the_wanted_rate() -> None:
    low = pipeline_report.targets({"propagation": _propagation(150, 150.0, {"api": 0.1})})
    assert _row(low, "command P99, whole stack")["met"] is False  # 40 ms, but at 150/s
    assert _row(low, "CPU of the product")["measured"] == round(100 / 150, 2)
    full = _propagation(1000, 1000.0, {"api": 0.5, "kafka": 0.5, "postgres": 0.5})
    rows = pipeline_report.targets({"propagation": full, "memory": {"relay": {"max_mb": 80}}})
    assert _row(rows, "commands, whole stack")["met"] is True
    assert _row(rows, "command P99, whole stack")["met"] is True
    assert _row(rows, "answer -> read model")["met"] is True
    assert _row(rows, "answer -> SSE")["met"] is False  # two updates never seen
    assert _row(rows, "CPU of the product")["met"] is True  # 1.5 ms
    assert _row(rows, "relay peak RSS")["met"] is True


def test_the_library_ratio_is_ours_over_theirs_at_one_event_a_transaction() -> None:
    out = {
        "append": [{"events_per_s": 4000}, {"events_per_s": 99999}],
        "append_library": {"saves_per_s": 1000, "concurrency": 16, "latency": {}},
    }
    [row] = library_append.targets(out)
    assert row["measured"] == 4.0 and row["met"] is False
    assert library_append.targets({"append": out["append"]}) == []
    names = [row["target"] for row in report.targets(out)]
    assert "append vs the eventsourcing library (saves/s)" in names
