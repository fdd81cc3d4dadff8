"""Issue 14's figures of the whole pipeline, read off the propagation phase (API, relay, worker
and the read-side observer running together on the same cores as PostgreSQL, Kafka and Redis).

The CPU per command is every part of the product's CPU (the API, relay and worker processes and
the PostgreSQL, Kafka and Redis servers) over the commands answered in the same window; the load
generator, the observer and whatever else runs on the machine are left out.
"""

from __future__ import annotations

from typing import Any

from bench.figures import target
from bench.http_sweep import sustained

# The product's parts, as the CPU meter names them (bench/procs.py).
PRODUCT = ("api", "relay", "worker", "postgres", "kafka", "redis")
WANTED_RATE = 1000.0
CPU_MS_TARGET = 2.0
LATENCY_MS_TARGET = 100.0
PROPAGATION_MS_TARGET = 250.0
RSS_MB_TARGET = 250.0


def cpu_per_command(prop: dict[str, Any]) -> tuple[float | None, dict[str, float]]:
    """(ms of the product's CPU per command answered, ms per part) in the propagation phase."""
    answered = prop.get("commands", {}).get("achieved_per_s")
    cores: dict[str, float] = prop.get("cores", {})
    if not answered:
        return None, {}
    parts = {p: round(cores.get(p, 0.0) * 1000.0 / answered, 2) for p in PRODUCT}
    return round(sum(parts.values()), 2), parts


def targets(out: dict[str, Any]) -> list[dict[str, Any]]:
    """The whole-pipeline rows of issue 14's table (None measured: the phase did not run)."""
    rows: list[dict[str, Any]] = []

    def add(name: str, wanted: str, measured: Any, met: bool | None) -> None:
        rows.append(target(name, wanted, measured, met))

    prop = out.get("propagation")
    if not prop:
        return rows
    rate = float(prop.get("rate") or 0.0)
    commands = prop.get("commands", {})
    at_rate = rate >= WANTED_RATE
    achieved = commands.get("achieved_per_s")
    add(
        f"commands, whole stack, {rate:.0f}/s offered",
        ">= 1,000/s sustained",
        achieved,
        None if achieved is None else at_rate and sustained(commands),
    )
    p99 = commands.get("latency", {}).get("p99")
    add(
        f"command P99, whole stack at {rate:.0f}/s",
        f"< {LATENCY_MS_TARGET:.0f} ms at 1,000/s",
        p99,
        None if p99 is None else at_rate and p99 < LATENCY_MS_TARGET,
    )
    for name, seen in (("read model", prop.get("read_model")), ("SSE", prop.get("sse"))):
        if not seen:
            continue
        add(
            f"answer -> {name} P99 at {rate:.0f}/s",
            f"< {PROPAGATION_MS_TARGET:.0f} ms at 1,000/s, 0 unseen",
            seen["p99"],
            at_rate and seen["p99"] < PROPAGATION_MS_TARGET and not seen.get("not_seen"),
        )
    total, _ = cpu_per_command(prop)
    add(
        f"CPU of the product per command at {rate:.0f}/s",
        f"<= {CPU_MS_TARGET:.0f} ms at 1,000/s",
        total,
        None if total is None else at_rate and total <= CPU_MS_TARGET,
    )
    memory = out.get("memory", {})
    for part in ("api_propagation", "worker", "relay"):
        found = memory.get(part)
        if found:
            add(
                f"{part.removesuffix('_propagation')} peak RSS at {rate:.0f}/s",
                f"< {RSS_MB_TARGET:.0f} MB at 1,000/s",
                found["max_mb"],
                at_rate and found["max_mb"] < RSS_MB_TARGET,
            )
    return rows


def lines(out: dict[str, Any]) -> list[str]:
    """The propagation phase's CPU per command, by part, for the table."""
    prop = out.get("propagation")
    if not prop:
        return []
    total, parts = cpu_per_command(prop)
    if total is None:
        return []
    shown = ", ".join(f"{p} {ms}" for p, ms in sorted(parts.items(), key=lambda kv: -kv[1]))
    return [f"  CPU per command, whole stack: {total} ms ({shown})"]
