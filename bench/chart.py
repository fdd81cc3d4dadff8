"""The PNG: a panel for each thing the run measured, two a row: throughput against the ceilings,
HTTP latency by offered rate, propagation by stage and over the window (a stall shows there),
position query by line length, notifications delivered a second and their latency over each step,
and the live followers' push latency and the API's memory and CPU against their number. A phase
left out (BENCH_ONLY) leaves no empty frame. Imported only when matplotlib is installed."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from bench.figures import max_sustained
from bench.pipeline_report import LATENCY_MS_TARGET, PROPAGATION_MS_TARGET


def _throughput_bars(out: dict[str, Any]) -> list[tuple[str, float, str]]:
    bars: list[tuple[str, float, str]] = []
    c = out.get("ceilings", {})
    if c:
        if (c.get("postgres_pgbench") or {}).get("rows_per_s"):
            bars.append(("PG insert\n(pgbench)", c["postgres_pgbench"]["rows_per_s"], "grey"))
        bars.append(("PG insert\n(psycopg)", c["postgres_psycopg"]["rows_per_s"], "grey"))
    for a in out.get("append", []):
        label = f"append\n{a['events_per_append']}/txn" + ("+idem" if a["idempotency"] else "")
        bars.append((label, a["events_per_s"], "tab:blue"))
    steps = out.get("http", {}).get("steps", [])
    if steps:
        bars.append(("HTTP\ncommands", max_sustained(out) or 0, "tab:orange"))
    if out.get("rebuild"):
        bars.append(("rebuild", out["rebuild"]["events_per_s"], "tab:green"))
    if c:
        bars.append(("Kafka\nproduce", c["kafka"]["messages_per_s"], "grey"))
        bars.append(("Redis\nZADD", c["redis"]["zadd_per_s"], "grey"))
    return bars


def _throughput(ax: Any, out: dict[str, Any]) -> None:
    bars = _throughput_bars(out)
    ax.bar([b[0] for b in bars], [b[1] for b in bars], color=[b[2] for b in bars])
    ax.set_yscale("log")
    ax.set_ylabel("operations or events per second (log)")
    ax.set_title("Throughput: ceilings (grey) and the service")
    ax.tick_params(axis="x", labelsize=7)
    for index, (_, value, _) in enumerate(bars):
        ax.text(index, value, f"{value:,.0f}", ha="center", va="bottom", fontsize=7)


def _http(ax: Any, out: dict[str, Any]) -> None:
    steps = out["http"]["steps"]
    offered = [s["offered_per_s"] for s in steps]
    for key, style in (("p50", "-o"), ("p95", "-s"), ("p99", "-^"), ("max", ":x")):
        ax.plot(offered, [s["latency"][key] for s in steps], style, label=key.upper())
    ax.set_yscale("log")
    ax.set_xlabel("offered commands/s")
    ax.set_ylabel("latency from intended send (ms, log)")
    ax.axhline(
        LATENCY_MS_TARGET,
        color="red",
        linewidth=0.8,
        linestyle="--",
        label=f"P99 target {LATENCY_MS_TARGET:.0f} ms",
    )
    twin = ax.twinx()
    twin.plot(offered, [s["achieved_per_s"] for s in steps], "k--", label="answered/s")
    twin.set_ylabel("answered commands/s")
    ax.legend(loc="upper left", fontsize=7)
    twin.legend(loc="lower right", fontsize=7)
    ax.set_title(f"Commands over HTTP ({out['http']['queues']} queues, open loop)")


def _propagation(ax: Any, out: dict[str, Any]) -> None:
    prop = out["propagation"]
    stages = prop.get("stages")
    paths = []
    if stages and stages["relay"]["n"]:  # the read model's path in its two stages, then whole
        paths += [("relay\n(-> Kafka)", stages["relay"]), ("worker\n(Kafka ->)", stages["worker"])]
    paths.append(("read model", prop["read_model"]))
    if prop.get("sse"):
        paths.append(("SSE", prop["sse"]))
    width = 0.35
    for index, key in enumerate(("p50", "p95", "p99")):
        ax.bar(
            [i + (index - 1) * width for i in range(len(paths))],
            [p[1][key] or 0 for p in paths],
            width,
            label=key.upper(),
        )
    ax.set_xticks(range(len(paths)), [p[0] for p in paths])
    _propagation_target(ax)
    ax.set_ylabel("ms after the command's answer")
    ax.set_title(f"Propagation at {prop['rate']:.0f} commands/s")
    ax.legend(fontsize=7)


def _propagation_target(ax: Any) -> None:
    ax.axhline(
        PROPAGATION_MS_TARGET,
        color="red",
        linewidth=0.8,
        linestyle="--",
        label=f"P99 target {PROPAGATION_MS_TARGET:.0f} ms",
    )


def _propagation_timeline(ax: Any, out: dict[str, Any]) -> None:
    prop = out["propagation"]
    rows = [r for r in prop["timeline"] if r["n"]]
    t = [r["t"] for r in rows]
    for key, style in (("p50_ms", "-"), ("p99_ms", "-"), ("max_ms", ":")):
        ax.plot(t, [r[key] for r in rows], style, label=key.removesuffix("_ms").upper())
    unseen = [r for r in prop["timeline"] if r["unseen"]]
    if unseen:
        top = max(r["max_ms"] for r in rows) if rows else PROPAGATION_MS_TARGET
        ax.plot([r["t"] for r in unseen], [top] * len(unseen), "rx", label="never seen")
    _propagation_target(ax)
    ax.set_yscale("log")
    ax.set_xlabel("seconds into the window (by answer time)")
    ax.set_ylabel("answer -> read model (ms, log)")
    ax.set_title(f"Propagation over the window at {prop['rate']:.0f} commands/s")
    ax.legend(fontsize=7)


def _reads(ax: Any, out: dict[str, Any]) -> None:
    rows = out["reads"]
    sizes = [r["waiting"] for r in rows]
    colours = {"zrank": "tab:grey", "read_model": "tab:blue", "http": "tab:orange"}
    for path, colour in colours.items():
        if all(path in r for r in rows):
            ax.plot(sizes, [r[path]["p99"] for r in rows], "-o", color=colour, label=f"{path} P99")
            ax.plot(sizes, [r[path]["p50"] for r in rows], ":", color=colour, label=f"{path} P50")
    ax.set_xscale("log")
    ax.set_xlabel("tickets waiting in the queue (log)")
    ax.set_ylabel("ms")
    ax.axhline(5, color="red", linewidth=0.8, linestyle="--", label="P99 target 5 ms")
    ax.set_title("Ticket position query")
    ax.legend(fontsize=7)


def _notify_steps(out: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = out.get("notifications") or {}
    steps = [
        ("nothing failing", found.get("sustained")),
        ("nothing failing, reduced", found.get("reduced")),
        ("webhooks failing", found.get("failing")),
    ]
    return [(name, step) for name, step in steps if step and step.get("timeline")]


def _notify_rate(ax: Any, out: dict[str, Any]) -> None:
    offset = 0
    for index, (name, step) in enumerate(_notify_steps(out)):
        line = step["timeline"]
        t = [offset + p["t"] for p in line]
        ax.plot(t, [p["webhook"] + p["email"] for p in line], "-", color=f"C{index}", label=name)
        ax.plot(t, [p["email"] for p in line], ":", color=f"C{index}", label=f"{name}: email")
        offered = step["offered_per_min"] / 60
        ax.hlines(offered, offset, offset + step["seconds"], color=f"C{index}", linestyle="--")
        offset += len(line) + 5
    ax.axhline(50_000 / 60, color="red", linewidth=0.8, linestyle="--", label="target 50,000/min")
    ax.set_xlabel("seconds (each step from its first event; dashed: offered)")
    ax.set_ylabel("messages delivered per second")
    ax.set_title("Notifications delivered (webhook + email)")
    ax.legend(fontsize=7)


def _notify_latency(ax: Any, out: dict[str, Any]) -> None:
    offset = 0
    for index, (name, step) in enumerate(_notify_steps(out)):
        line = [p for p in step["timeline"] if p["p99_ms"] is not None]
        t = [offset + p["t"] for p in line]
        ax.plot(t, [p["p99_ms"] for p in line], "-", color=f"C{index}", label=f"{name}: P99")
        ax.plot(t, [p["p50_ms"] for p in line], ":", color=f"C{index}", label=f"{name}: P50")
        offset += len(step["timeline"]) + 5
    ax.set_yscale("log")
    ax.axhline(1000, color="red", linewidth=0.8, linestyle="--", label="P99 target 1 s")
    ax.set_xlabel("seconds (by the event's due time)")
    ax.set_ylabel("event -> delivery (ms, log)")
    ax.set_title("Notification latency, per second of events")
    ax.legend(fontsize=7)


def _follow_steps(out: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = (out.get("followers") or {}).get("steps") or []
    return sorted(steps, key=lambda s: s["followers"])


def _follow_latency(ax: Any, out: dict[str, Any]) -> None:
    steps = _follow_steps(out)
    counts = [s["followers"] for s in steps]
    for key, style in (("p50", "-o"), ("p95", "-s"), ("p99", "-^"), ("max", ":x")):
        ax.plot(counts, [s["push"][key] for s in steps], style, label=f"push {key.upper()}")
    ax.set_yscale("log")
    ax.axhline(1000, color="red", linewidth=0.8, linestyle="--", label="P99 target 1 s")
    ax.set_xlabel("live followers of one API process")
    ax.set_ylabel("command answered -> follower received (ms, log)")
    rate = (out.get("followers") or {}).get("rate", 0)
    ax.set_title(f"Push latency, {rate:.0f} commands/s over 100 queues")
    ax.legend(fontsize=7)


def _follow_cost(ax: Any, out: dict[str, Any]) -> None:
    steps = _follow_steps(out)
    counts = [s["followers"] for s in steps]
    rss = [s["api"]["rss_max_mb"] for s in steps]
    ax.plot(counts, rss, "-o", label="API VmRSS (max)")
    ax.plot(counts, [s["api"]["hwm_mb"] for s in steps], ":s", label="API VmHWM")
    ax.axhline(1024, color="red", linewidth=0.8, linestyle="--", label="target 1 GB")
    ax.set_ylim(0, max([1100.0, *(r or 0 for r in rss)]) * 1.05)
    ax.margins(x=0.12)
    for count, mb, step in zip(counts, rss, steps, strict=True):
        redis = step["redis"]
        note = f"Redis {redis['api']}/{redis['connected_clients']}"  # the API's / everyone's
        ax.annotate(
            note,
            (count, mb or 0),
            textcoords="offset points",
            xytext=(0, 8),
            fontsize=7,
            ha="center",
        )
    ax.set_xlabel("live followers of one API process")
    ax.set_ylabel("MB")
    twin = ax.twinx()
    twin.plot(counts, [s["api"]["cores"] for s in steps], "k--^", label="API cores")
    twin.set_ylim(0, 2.2)
    twin.set_ylabel("API cores")
    ax.legend(loc="upper left", fontsize=7)
    twin.legend(loc="center right", fontsize=7)
    ax.set_title("The API with N followers: memory, CPU, Redis connections (API's/all)")


Panel = Callable[[Any, dict[str, Any]], None]


def _panels(out: dict[str, Any]) -> list[Panel]:
    """The panels this run has figures for, in order."""
    prop = out.get("propagation") or {}
    wanted: list[tuple[bool, Panel]] = [
        (bool(_throughput_bars(out)), _throughput),
        (bool(out.get("http", {}).get("steps")), _http),
        (bool(prop), _propagation),
        (bool(prop.get("timeline")), _propagation_timeline),
        (bool(_notify_steps(out)), _notify_rate),
        (bool(_notify_steps(out)), _notify_latency),
        (bool(_follow_steps(out)), _follow_latency),
        (bool(_follow_steps(out)), _follow_cost),
        (bool(out.get("reads")), _reads),  # last: the pairs above keep to their rows
    ]
    return [panel for has_figures, panel in wanted if has_figures]


def draw(out: dict[str, Any], path: Path) -> None:
    panels = _panels(out)
    rows = max(1, math.ceil(len(panels) / 2))
    fig, axes = plt.subplots(rows, 2, figsize=(14, 4.5 * rows), squeeze=False)
    cells = [ax for row in axes for ax in row]
    for panel, ax in zip(panels, cells, strict=False):
        panel(ax, out)
    for ax in cells[len(panels) :]:
        ax.set_visible(False)
    m = out["machine"]
    memory = ", ".join(f"{k} {v['max_mb']:.0f} MB" for k, v in out.get("memory", {}).items() if v)
    fig.suptitle(
        f"virtual-queue benchmark {out['started']}: {m['cores']} x {m['cpu']}\npeak RSS: {memory}",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (4.5 * rows)))  # half an inch for the two lines
    fig.savefig(path, dpi=110)
    plt.close(fig)
