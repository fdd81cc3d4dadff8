"""The run's results: a table for the terminal, the JSON file, a PNG chart, and the targets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import (
    followers_report,
    library_append,
    notify_report,
    pipeline_report,
    pushes,
    soak_report,
    wrk,
)
from bench.figures import max_sustained, target
from bench.http_sweep import sustained

ROW = "{:<46} {:>14} {}"


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value >= 100:
        value = round(value)
    return f"{value:,}{unit}" if isinstance(value, int | float) else str(value)


def _lat(lat: dict[str, Any] | None) -> str:
    if not lat:
        return "-"
    return f"P50 {lat['p50']} / P95 {lat['p95']} / P99 {lat['p99']} / max {lat['max']} ms"


def _step_at(out: dict[str, Any], rate: float) -> dict[str, Any] | None:
    steps: list[dict[str, Any]] = out.get("http", {}).get("steps", [])
    return next((step for step in steps if step["offered_per_s"] == rate), None)


def pg_ceiling(out: dict[str, Any]) -> tuple[float | None, str]:
    """The PostgreSQL ceiling the append is compared with: pgbench's when it ran."""
    found = out.get("ceilings", {})
    bench = found.get("postgres_pgbench") or {}
    if bench.get("rows_per_s"):
        return float(bench["rows_per_s"]), "pgbench"
    python = found.get("postgres_psycopg") or {}
    return python.get("rows_per_s"), "psycopg"


def targets(out: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets against what this run measured (None: not measured)."""
    rows: list[dict[str, Any]] = []

    def add(name: str, wanted: str, measured: Any, met: bool | None) -> None:
        rows.append(target(name, wanted, measured, met))

    best = max_sustained(out)
    add("commands sustained, API alone", ">= 1,000/s", best, None if best is None else best >= 1000)
    at_1000 = _step_at(out, 1000.0)
    p99 = at_1000["latency"]["p99"] if at_1000 else None
    add(
        "command P99 at 1,000/s, API alone",
        "< 100 ms",
        p99,
        None if at_1000 is None else sustained(at_1000) and p99 is not None and p99 < 100,
    )
    rows += pipeline_report.targets(out)
    appends = out.get("append")
    ceiling, _ = pg_ceiling(out)
    if appends and ceiling:
        ratio = round(appends[0]["events_per_s"] / ceiling, 2)
        add("append / PostgreSQL ceiling (1 event/txn)", ">= 0.5", ratio, ratio >= 0.5)
    rows += library_append.targets(out)
    for row in out.get("reads", []):
        worst = max((row[k]["p99"] for k in ("read_model", "http") if k in row), default=None)
        add(
            f"position query P99, {row['waiting']:,} waiting",
            "< 5 ms",
            worst,
            None if worst is None else worst < 5,
        )
    rebuild = out.get("rebuild")
    if rebuild:
        add(
            "rebuild",
            ">= 20,000 events/s",
            rebuild["events_per_s"],
            rebuild["events_per_s"] >= 20000,
        )
        if rebuild.get("peak_rss_mb"):
            add(
                "rebuild: peak RSS of a folding process",
                "< 250 MB",
                rebuild["peak_rss_mb"],
                rebuild["peak_rss_mb"] < 250,
            )
    for name in ("api_sweep", "api_data"):  # (the propagation's: pipeline_report)
        mem = out.get("memory", {}).get(name)
        if mem:
            add(
                f"API peak RSS ({name.removeprefix('api_')})",
                "< 250 MB",
                mem["max_mb"],
                mem["max_mb"] < 250,
            )
    return (
        rows + notify_report.targets(out) + followers_report.targets(out) + soak_report.targets(out)
    )


def table(out: dict[str, Any]) -> str:
    lines = _heading(out)
    sections = (_ceilings, _appends, _commands, _propagation, _reads, _rebuild, _memory)
    phases = (notify_report.section, followers_report.section, pushes.section, soak_report.section)
    for section in (*sections, *phases):
        lines += section(out)
    for phase, error in out.get("failures", {}).items():
        lines.append(f"   FAILED phase {phase}: {error}")
    lines += ["", "targets"]
    for t in targets(out):
        mark = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        lines.append(
            f"   {mark:<7} {t['target']:<48} wanted {t['wanted']:<21} "
            f"measured {_fmt(t['measured'])}"
        )
    lines.append(f"\n(run took {out.get('seconds')} s)")
    lines += profiles(out)
    return "\n".join(lines)


def _heading(out: dict[str, Any]) -> list[str]:
    m = out["machine"]
    return [
        "",
        f"virtual-queue benchmark {out['started']}{' (quick)' if out['quick'] else ''}: "
        f"{m['cores']} x {m['cpu']}, {m['memory_gb']} GB, Python {m['python']}, "
        f"{m['postgresql']}, {m['redis']}, estimators {m.get('estimators', 'source')}",
        f"load average at each phase: {out['loadavg']}",
        "",
    ]


def _ceilings(out: dict[str, Any]) -> list[str]:
    c = out.get("ceilings")
    if not c:
        return []
    lines = ["1. ceilings of the parts"]
    pg = c["postgres_psycopg"]
    lines.append(
        ROW.format(
            f"PostgreSQL INSERT+COMMIT, psycopg, {pg['connections']} conns",
            _fmt(pg["rows_per_s"], "/s"),
            _lat(pg["commit_latency"]),
        )
    )
    bench = c.get("postgres_pgbench") or {}
    lines.append(
        ROW.format(
            f"PostgreSQL INSERT+COMMIT, pgbench, {pg['connections']} conns",
            _fmt(bench.get("rows_per_s"), "/s"),
            f"avg {bench.get('latency_avg_ms')} ms; {pg['durability']}",
        )
    )
    k = c["kafka"]
    lines.append(
        ROW.format(
            f"Kafka produce (relay settings), {k['value_bytes']} B",
            _fmt(k["messages_per_s"], "/s"),
            f"batch of {k['batch']}: {_lat(k['batch_latency'])}",
        )
    )
    r = c["redis"]
    lines.append(
        ROW.format(
            f"Redis ZADD, {r['clients']} clients",
            _fmt(r["zadd_per_s"], "/s"),
            _lat(r["zadd_latency"]),
        )
    )
    lines.append(
        ROW.format(
            f"Redis ZRANK in {r['zset_size']:,}, {r['clients']} clients",
            _fmt(r["zrank_per_s"], "/s"),
            _lat(r["zrank_latency"]),
        )
    )
    lines.append(
        ROW.format("Redis ZADD pipelined (server side)", _fmt(r["zadd_pipelined_per_s"], "/s"), "")
    )
    return lines


def _appends(out: dict[str, Any]) -> list[str]:
    if not out.get("append"):
        return []
    ceiling, kind = pg_ceiling(out)
    lines = ["", f"2. event store append, in process ({kind} ceiling {_fmt(ceiling)}/s)"]
    for a in out["append"]:
        ratio = f"{a['events_per_s'] / ceiling:.2f} of ceiling; " if ceiling else ""
        label = (
            f"{a['events_per_append']} event(s)/append"
            f"{' + idempotency key' if a['idempotency'] else ''}, "
            f"{a['connections']} conns"
        )
        cpu = a.get("client_cpu_ms_per_append")
        client = f"; client CPU {cpu} ms/append" if cpu is not None else ""
        lines.append(
            ROW.format(
                label,
                _fmt(a["events_per_s"], " ev/s"),
                ratio + "append " + _lat(a["latency"]) + client,
            )
        )
    return lines + library_append.lines(out)


def _commands(out: dict[str, Any]) -> list[str]:
    http = out.get("http")
    if not http:
        return []
    lines = [
        "",
        f"3. commands through HTTP (open loop, {http['queues']} queues, API with "
        f"{http['api_workers']} worker(s); latency from the intended send time)",
    ]
    lines.append(
        f"   {'offered':>8} {'answered':>9} {'errors':>6} {'rejected':>8}  "
        f"{'P50':>8} {'P95':>8} {'P99':>8} {'max':>8} ms  API CPU/cmd  cores used"
    )
    for s in http["steps"]:
        lat = s["latency"]
        lines.append(
            f"   {s['offered_per_s']:>8.0f} {s['achieved_per_s']:>9.1f} "
            f"{s['errors']:>6} {s['rejected']:>8}  {lat['p50']:>8} {lat['p95']:>8} "
            f"{lat['p99']:>8} {lat['max']:>8}  {s['api_cpu_ms_per_command']:>7} ms"
            f"  {s['cores']}"
        )
    lines.append(
        f"   max sustained: {_fmt(max_sustained(out))}/s; mix of the last step: "
        f"{http['steps'][-1]['mix']}"
    )
    return lines + wrk.lines(http)


def _propagation(out: dict[str, Any]) -> list[str]:
    prop = out.get("propagation")
    if not prop:
        return []
    cmd = prop["commands"]
    lines = [
        "",
        f"4. propagation at {prop['rate']:.0f} commands/s offered "
        f"({cmd['achieved_per_s']}/s answered, {cmd['errors']} errors)"
        + (f": {prop['note']}" if prop.get("note") else ""),
    ]
    lines.append(ROW.format("command latency (whole stack running)", "", _lat(cmd["latency"])))
    lines.append(
        ROW.format(
            "answer -> read model (Redis pub/sub)",
            f"{prop['read_model']['not_seen']} unseen",
            _lat(prop["read_model"]),
        )
    )
    stages = prop.get("stages")
    if stages and stages["relay"]["n"]:
        lines.append(ROW.format("  of which answer -> Kafka (relay)", "", _lat(stages["relay"])))
        lines.append(ROW.format("  and Kafka -> read model (worker)", "", _lat(stages["worker"])))
    sse = prop.get("sse")
    lines.append(
        ROW.format(
            "answer -> SSE subscriber",
            f"{sse['not_seen']} unseen" if sse else "no SSE route",
            _lat(sse) if sse else "",
        )
    )
    lines.append(f"   cores used: {prop['cores']}")
    return lines + pipeline_report.lines(out)


def _reads(out: dict[str, Any]) -> list[str]:
    if not out.get("reads"):
        return []
    lines = ["", "5. ticket position query, one caller (latency)"]
    for row in out["reads"]:
        for path in ("zrank", "read_model", "http"):
            if path in row:
                failed = row[path].get("failed")
                lines.append(
                    ROW.format(
                        f"{row['waiting']:,} waiting: {path}",
                        f"{failed} failed" if failed else "",
                        _lat(row[path]),
                    )
                )
    return lines


def _rebuild(out: dict[str, Any]) -> list[str]:
    if not out.get("rebuild"):
        return []
    rb, fl = out["rebuild"], out.get("fill", {})
    lines = ["", "6. rebuild of the read models from the event store"]
    lines.append(
        ROW.format(
            f"{rb['events']:,} events, {rb['queues']} queues, {rb.get('processes', 1)} process(es)",
            _fmt(rb["events_per_s"], " ev/s"),
            f"{rb['seconds']} s",
        )
    )
    lines.append(
        ROW.format(
            "(filling the store: multi-event appends)",
            _fmt(fl.get("events_per_s"), " ev/s"),
            f"{fl.get('seconds')} s",
        )
    )
    return lines


def _memory(out: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if out.get("memory"):
        lines += ["", "7. peak memory (VmHWM)"]
        for name, mem in out["memory"].items():
            if mem:
                lines.append(
                    ROW.format(
                        name,
                        _fmt(mem["max_mb"], " MB"),
                        f"{mem['processes']} process(es), {mem['total_mb']} MB in all",
                    )
                )
    if out.get("api_start_with_data"):
        start = out["api_start_with_data"]
        lines.append(
            ROW.format(
                f"(API busy after start on {start['events']:,} events)",
                f"{start['busy_s']} s",
                "before it idles; reads wait for it",
            )
        )
    return lines


def profiles(out: dict[str, Any], top: int = 12) -> list[str]:
    found = []
    steps = out.get("http", {}).get("steps", [])
    held = [s for s in steps if sustained(s)]
    # The busiest step it sustained and the step where it broke: where the time goes.
    for step in ([held[-1]] if held else []) + [s for s in steps[-1:] if not sustained(s)]:
        if step.get("profile"):
            found.append((f"API at {step['offered_per_s']:.0f}/s offered", step["profile"]))
    for part, prof in ((out.get("propagation") or {}).get("profiles") or {}).items():
        found.append((f"{part} during propagation", prof or {}))
    if ((out.get("notifications") or {}).get("sustained") or {}).get("profile"):
        found.append(("a notifier (nothing failing)", out["notifications"]["sustained"]["profile"]))
    for step in ((out.get("followers") or {}).get("steps") or [])[-1:]:
        if step.get("profile"):
            found.append((f"API with {step['followers']:,} followers", step["profile"]))
    for step in ((out.get("pushes") or {}).get("steps") or [])[-1:]:
        if step.get("profile"):
            found.append((f"API pushing to {step['followers']:,} followers", step["profile"]))
    if (out.get("rebuild") or {}).get("profile"):
        found.append(("rebuild (bench process)", out["rebuild"]["profile"]))
    lines = []
    for name, prof in found:
        if "self" not in prof:
            continue
        lines += [
            "",
            f"profile: {name}: {prof['cores_busy']} cores busy (py-spy); self time "
            "by component, then by function (% of samples)",
        ]
        lines += [f"   {pct:5.1f}  {part}" for part, pct in prof.get("components", [])[:8]]
        lines += ["   --"] + [f"   {pct:5.1f}  {frame}" for frame, pct in prof["self"][:top]]
    return lines


def write_json(out: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps({**out, "targets": targets(out)}, indent=1, default=str))


def chart(out: dict[str, Any], path: Path) -> Path | None:
    if set(out["config"]["phases"]) == {"soak"}:  # the soak's own chart, drawn by the phase
        drawn = (out.get("soak") or {}).get("chart")
        return Path(drawn) if drawn else None
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    # Not at the top: bench.chart imports pyplot, so only once matplotlib is known installed
    # and set to draw without a display.
    from bench.chart import draw

    draw(out, path)
    return path
