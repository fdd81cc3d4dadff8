"""What a live run did (`LiveResult`), and its summary as text."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from domain.hours import zone


@dataclass(slots=True, kw_only=True)
class LiveResult:
    scenario: str
    seed: int
    api: str
    timezone: str  # the scenario's, for the times shown
    tenant_id: str = ""
    queue_id: str = ""
    board: str = ""
    simulated_from: datetime
    simulated_to: datetime
    speed: float = 1.0
    wall_seconds: float = 0.0
    sent: Counter[str] = field(default_factory=Counter)  # by kind of command
    refused: Counter[str] = field(default_factory=Counter)  # by problem type
    retries: int = 0
    max_lag_seconds: float = 0.0  # simulated seconds a command went after its time
    waiting: int = 0  # the world's line when the window ended
    stream_version: int = 0
    read_side_caught_up: bool = False
    accuracy_status: int | None = None
    accuracy: Any = None

    def as_json(self) -> dict[str, Any]:
        found = {f.name: getattr(self, f.name) for f in fields(self)}  # asdict mangles Counters
        found.update(
            simulated_from=self.simulated_from.isoformat(),
            simulated_to=self.simulated_to.isoformat(),
            sent=dict(self.sent),
            refused=dict(self.refused),
            commands=sum(self.sent.values()),
            refusals=sum(self.refused.values()),
        )
        return found


def summary(result: LiveResult) -> str:
    """The end of a run as text: where to look, what was sent, what the estimators scored."""
    tz = zone(result.timezone)
    kinds = ", ".join(f"{k} {n}" for k, n in result.sent.most_common())
    refused = ", ".join(f"{k} {n}" for k, n in result.refused.most_common()) or "none"
    lines = [
        f"live simulation of {result.scenario} (seed {result.seed}) through {result.api}",
        f"  simulated   {result.simulated_from.astimezone(tz):%Y-%m-%d %H:%M} to "
        f"{result.simulated_to.astimezone(tz):%H:%M} {result.timezone} in "
        f"{result.wall_seconds:.0f} s (API clock {result.speed:g}x); commands went at most "
        f"{result.max_lag_seconds:.1f} simulated s late",
        f"  tenant      {result.tenant_id}",
        f"  queue       {result.queue_id} (stream version {result.stream_version})",
        f"  board       {result.board}",
        f"  commands    {sum(result.sent.values())} sent ({kinds})",
        f"  refused     {sum(result.refused.values())} ({refused}); {result.retries} retries",
        f"  waiting     {result.waiting} at the end",
    ]
    if not result.read_side_caught_up:
        lines.append("  accuracy    - (the read models did not catch up)")
    elif result.accuracy_status != 200:
        lines.append(
            f"  accuracy    - (GET /v1/queues/{{id}}/accuracy answered {result.accuracy_status})"
        )
    else:
        lines += _accuracy_table(result.accuracy)
    return "\n".join(lines)


def _accuracy_table(accuracy: dict[str, Any]) -> list[str]:
    """`GET /v1/queues/{id}/accuracy`, per estimator; the figures count called tickets only."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    indent = " " * 14
    rows = [
        f"  accuracy    serving {accuracy['serving']} (figures at version {accuracy['version']})",
        f"{indent}{'estimator':<10} {'estimated':>9} {'called':>6} {'MAE s':>6} "
        f"{'within 20%':>10} {'P10..P90':>8} {'over 2x':>7}",
    ]
    for e in accuracy["estimators"]:
        mae = "-" if e["mae_seconds"] is None else f"{e['mae_seconds']:.0f}"
        rows.append(
            f"{indent}{e['estimator']:<10} {e['estimated']:>9} {e['called']:>6} "
            f"{mae:>6} {pct(e['within_20_percent']):>10} "
            f"{pct(e['p10_p90_coverage']):>8} {pct(e.get('over_twice_p50')):>7}"
        )
    return rows
