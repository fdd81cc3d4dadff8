"""The soak's PNG: time on x (minutes), one panel per family of figures: memory per process, the
lags, command latency, answer -> SSE, throughput and cores, storage. Grey: the warm-up; green and
orange: the first and last tenth whose medians the verdicts compare. Imported only when
matplotlib is installed (and its backend set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from bench.soak_series import LAG_NEAR_ZERO_S, windows


def _line(ax: Any, series: list[dict[str, Any]], key: str, *args: Any, **kwargs: Any) -> None:
    points = [(row["t"] / 60, row[key]) for row in series if row.get(key) is not None]
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], *args, **kwargs)


def _spans(axes: list[Any], soak: dict[str, Any]) -> None:
    (low, high), (last_low, last_high) = windows(soak["duration_s"], soak["warmup_s"])
    for ax in axes:
        ax.axvspan(0, soak["warmup_s"] / 60, color="grey", alpha=0.15, linewidth=0)
        ax.axvspan(low / 60, high / 60, color="tab:green", alpha=0.08, linewidth=0)
        ax.axvspan(last_low / 60, last_high / 60, color="tab:orange", alpha=0.1, linewidth=0)
        ax.set_xlabel("minutes")
        ax.grid(alpha=0.3)


def _memory(ax: Any, series: list[dict[str, Any]]) -> None:
    for part in ("api", "relay", "worker"):
        _line(ax, series, f"rss_{part}", "-", label=part)
    for part in ("loadgen", "observer", "bench"):
        _line(ax, series, f"rss_{part}", ":", linewidth=0.8, label=f"{part} (the benchmark's)")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("VmRSS (MB)")
    ax.set_title("Resident memory per process")
    ax.legend(loc="lower right", fontsize=7, ncol=2)


def _lags(ax: Any, series: list[dict[str, Any]], rate: float) -> None:
    _line(ax, series, "relay_lag", "-", label="relay lag (events not yet published)")
    _line(ax, series, "consumer_lag", "-", label="consumer lag (records not committed)")
    bound = rate * LAG_NEAR_ZERO_S
    ax.axhline(bound, color="red", linewidth=0.8, linestyle="--", label=f"near 0: < {bound:.0f}")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("events")
    ax.set_title("Lags (the API's /metrics)")
    ax.legend(fontsize=7)


def _latency(ax: Any, series: list[dict[str, Any]]) -> None:
    _line(ax, series, "p50", "-", label="P50")
    _line(ax, series, "p99", "-", label="P99")
    _line(ax, series, "max", ":", linewidth=0.7, label="max")
    ax.set_yscale("log")
    ax.set_ylabel("ms from the intended send (log)")
    twin = ax.twinx()
    errors = [(row["t"] / 60, row["errors"]) for row in series if row.get("errors")]
    if errors:
        twin.plot([e[0] for e in errors], [e[1] for e in errors], "rx", label="errors")
        twin.legend(loc="upper right", fontsize=7)
    twin.set_ylabel("errors per interval")
    ax.set_title("Command latency per interval (answers that came in it)")
    ax.legend(loc="upper left", fontsize=7)


def _propagation(ax: Any, series: list[dict[str, Any]]) -> None:
    _line(ax, series, "sse_p50", "-", label="P50")
    _line(ax, series, "sse_p99", "-", label="P99")
    _line(ax, series, "sse_max", ":", linewidth=0.7, label="max")
    ax.set_yscale("log")
    ax.set_ylabel("ms after the command's answer (log)")
    ax.set_title("Answer -> SSE subscriber, per interval")
    ax.legend(fontsize=7)


def _throughput(ax: Any, series: list[dict[str, Any]], rate: float, cores: int) -> None:
    _line(ax, series, "answered_per_s", "k-", label="answered/s")
    ax.axhline(rate, color="k", linewidth=0.8, linestyle="--", label="offered/s")
    ax.set_ylim(0, rate * 1.3)
    ax.set_ylabel("commands/s")
    twin = ax.twinx()
    for index, part in enumerate(("api", "worker", "relay", "postgres", "kafka", "other")):
        points = [(r["t"] / 60, r["cores"].get(part, 0.0)) for r in series if "cores" in r]
        if points:
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            twin.plot(xs, ys, "-", color=f"C{index}", linewidth=0.8, label=f"{part} cores")
    load = [(r["t"] / 60, r["loadavg"] / cores) for r in series if r.get("loadavg") is not None]
    if load:  # the box's run queue per core: above 1, every process waits for a core
        xs, ys = [p[0] for p in load], [p[1] for p in load]
        twin.plot(xs, ys, "k:", label=f"load average / {cores} cores")
    twin.set_ylim(bottom=0)
    twin.set_ylabel("cores")
    ax.set_title("Throughput, the cores each part used, the box's load")
    ax.legend(loc="upper left", fontsize=7)
    twin.legend(loc="upper right", fontsize=7, ncol=2)


def _storage(ax: Any, series: list[dict[str, Any]]) -> None:
    _line(ax, series, "pg_schema_mb", "-", label="PostgreSQL: this run's schema")
    _line(ax, series, "redis_mb", "-", label="Redis used_memory (whole server)")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("MB")
    twin = ax.twinx()
    _line(twin, series, "redis_keys", "k.", markersize=3, label="Redis keys of this run")
    twin.set_ylim(bottom=0)
    twin.set_ylabel("keys")
    ax.set_title("Storage")
    ax.legend(loc="upper left", fontsize=7)
    twin.legend(loc="lower right", fontsize=7)


def draw(soak: dict[str, Any], path: Path) -> None:
    series = soak["series"]
    fig, axes = plt.subplots(3, 2, figsize=(14, 13), squeeze=False)
    _memory(axes[0][0], series)
    _lags(axes[0][1], series, soak["rate"])
    _latency(axes[1][0], series)
    _propagation(axes[1][1], series)
    _throughput(axes[2][0], series, soak["rate"], soak.get("box_cores", 1))
    _storage(axes[2][1], series)
    _spans([ax for row in axes for ax in row], soak)
    verdicts = "; ".join(
        f"{v['figure']} {v.get('verdict') or 'n/a'}"
        + (f" {v['change']:+.0%}" if v.get("change") is not None else "")
        for v in soak["verdicts"]
    )
    fig.suptitle(
        f"virtual-queue soak: {soak['duration_s']:.0f} s at {soak['rate']:.0f} commands/s, "
        f"{soak.get('queues', 50)} queues (warm-up {soak['warmup_s']:.0f} s, grey; medians "
        f"compared: green -> orange)\n{verdicts}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
