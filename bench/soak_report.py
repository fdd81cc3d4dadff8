"""The soak in the run's table and targets (bench/report.py), and its line a minute."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.soak_series import INTERVAL_S, Summary, percentile_ms

Say = Callable[[str], None]

PROGRESS_EVERY = 12  # intervals: a line a minute
LABELS = {
    "rss_api": "API RSS (MB)",
    "rss_relay": "relay RSS (MB)",
    "rss_worker": "worker RSS (MB)",
    "p99": "command latency P99 (ms)",
    "sse_p99": "answer -> SSE P99 (ms)",
    "relay_lag": "relay lag (events)",
    "consumer_lag": "consumer lag (records)",
    "pg_schema_mb": "PostgreSQL, this run's schema (MB)",
    "events": "events in the store",
    "redis_keys": "Redis keys of this run",
    "redis_mb": "Redis used_memory, whole server (MB)",
}


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


class Progress:
    """The line printed every minute: what the last minute's intervals said."""

    def __init__(self, duration_s: float, say: Say) -> None:
        self.duration_s, self.say = duration_s, say
        self.latencies: list[float] = []
        self.delays: list[float] = []
        self.answered = self.errors = self.resent = 0

    def commands(self, summary: Summary, latencies: list[float]) -> None:
        self.latencies += latencies
        self.answered += summary["ok"] + summary["rejected"]
        self.errors += summary["errors"]
        self.resent += summary["resent"]

    def line(self, elapsed: float, gauges: Summary) -> None:
        minute = PROGRESS_EVERY * INTERVAL_S
        rss = " / ".join(f"{gauges.get(f'rss_{p}') or '-'}" for p in ("api", "relay", "worker"))
        sse = percentile_ms(self.delays, 99)
        self.say(
            f"  soak {_clock(elapsed)}/{_clock(self.duration_s)}: "
            f"{self.answered / minute:.1f}/s answered, {self.errors} errors "
            f"({self.resent} resent); "
            f"P50 {percentile_ms(self.latencies, 50)} P99 {percentile_ms(self.latencies, 99)} ms;"
            f" SSE P99 {sse if sse is not None else '-'} ms; RSS api/relay/worker {rss} MB; lag "
            f"relay {gauges.get('relay_lag')} consumer {gauges.get('consumer_lag')}; Redis "
            f"{gauges.get('redis_mb')} MB; PG schema {gauges.get('pg_schema_mb')} MB"
        )
        self.latencies, self.delays = [], []
        self.answered = self.errors = self.resent = 0


def _figure(value: Any) -> str:
    return "-" if value is None else f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def section(out: dict[str, Any]) -> list[str]:
    """The phase in the table (bench/report.py)."""
    soak = out.get("soak")
    if not soak:
        return []
    cmd, sse, lat = soak["commands"], soak["sse"], soak["commands"]["latency"]
    lines = [
        "",
        f"11. soak: {soak['duration_s']:.0f} s at {soak['rate']:.0f} commands/s offered (API, "
        f"relay, worker, {soak['queues']} queues followed over SSE); figures after the "
        f"{soak['warmup_s']:.0f} s warm-up; each verdict compares the median of the run's last "
        "10 % with that of its first 10 % after the warm-up",
        f"   commands: {cmd['answered_per_s']}/s answered, {cmd['errors']} errors "
        f"{cmd['errors_by_status'] or ''} ({cmd['resent']} unanswered sent again), "
        f"{cmd['rejected']} rejected; P50 {lat['p50']} / P95 "
        f"{lat['p95']} / P99 {lat['p99']} / max {lat['max']} ms",
        f"   answer -> SSE: P50 {sse['p50']} / P95 {sse['p95']} / P99 {sse['p99']} / max "
        f"{sse['max']} ms, {sse['unseen']} unseen, streams ended {sse.get('streams_ended')} "
        f"failed {sse.get('streams_failed')}",
        f"   {'figure':<38} {'first 10 %':>11} {'last 10 %':>11} {'change':>8}  verdict",
    ]
    for v in soak["verdicts"]:
        if "bound" in v:
            change = (
                f"p95 {_figure(v['p95'])}, max {_figure(v['max'])} (near 0: < {v['bound']:.0f})"
            )
        else:
            change = "-" if v["change"] is None else f"{v['change']:+.1%}"
        lines.append(
            f"   {LABELS[v['figure']]:<38} {_figure(v['first']):>11} {_figure(v['last']):>11} "
            f"{change:>8}  {v.get('verdict') or 'n/a'}"
        )
    lines.append("   growth, per hour (from the same two medians):")
    for g in soak["growth"]:
        lines.append(
            f"   {LABELS[g['figure']]:<38} {_figure(g['first']):>11} {_figure(g['last']):>11} "
            f"{_figure(g['per_hour']):>8}/h"
        )
    lines.append(f"   chart: {soak.get('chart') or 'not drawn (pip install matplotlib)'}")
    return lines


def targets(out: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's soak goal, per figure (bench/report.py's targets)."""
    soak = out.get("soak")
    if not soak:
        return []
    return [
        {
            "target": f"soak: {LABELS[v['figure']]}",
            "wanted": "near 0" if "bound" in v else "flat within 10 %",
            "measured": v["p95"] if "bound" in v else v["change"],
            "met": v["met"],
        }
        for v in soak["verdicts"]
    ]
