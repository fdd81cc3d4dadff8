"""Figures read off a run's results that both the table (`report`) and the chart show."""

from __future__ import annotations

from typing import Any

from bench.http_sweep import sustained


def max_sustained(out: dict[str, Any]) -> float | None:
    steps = out.get("http", {}).get("steps", [])
    return max((s["achieved_per_s"] for s in steps if sustained(s)), default=None)


def target(name: str, wanted: str, measured: Any, met: bool | None) -> dict[str, Any]:
    """One row of the run's targets (met None: not measured, or not at the wanted scale)."""
    return {"target": name, "wanted": wanted, "measured": measured, "met": met}
