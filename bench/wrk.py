"""The same command mix from an outside generator: wrk (Debian's package, written in C) driven by
`bench/wrk_mix.lua`, so the API's figures do not rest on our own generator alone.

wrk is closed loop: each of its connections sends the next command when the last is answered,
so it finds how many commands a second the API answers at that concurrency and its latency per
answer (not from an intended send time: a stall lowers the rate instead of showing as latency;
the open-loop sweep before it is the one that counts that). Its own CPU is a few percent of a
core where our Python generator spends a fifth of one, which leaves the API more of the box.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.env import Tenant
from bench.http_sweep import create_queues
from bench.procs import CpuMeter, cores_used, start_api, wait_idle
from core.settings import Settings

SCRIPT = Path(__file__).resolve().parent / "wrk_mix.lua"
TIMEOUT_S = 10


def available() -> str | None:
    return shutil.which("wrk")


def step(
    url: str,
    tenant: Tenant,
    queues: list[str],
    connections: int,
    duration_s: float,
    meter: CpuMeter,
    threads: int = 1,
) -> dict[str, Any]:
    """One wrk run; answers by kind, latency, and the cores of every part, wrk's included."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "wrk.json"
        environment = {
            "VQ_WRK_QUEUES": ",".join(queues),
            "VQ_WRK_THREADS": str(threads),
            "VQ_WRK_STAFF": tenant.staff,
            "VQ_WRK_KIOSK": tenant.kiosk,
            "VQ_WRK_OUT": str(out),
            "PATH": "/usr/bin:/bin",
        }
        command = [
            available() or "wrk",
            f"--threads={threads}",
            f"--connections={connections}",
            f"--duration={int(duration_s)}s",
            f"--timeout={TIMEOUT_S}s",
            f"--script={SCRIPT}",
            url,
        ]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        before = meter.snapshot()
        finished = subprocess.run(command, env=environment, capture_output=True, text=True)
        after = meter.snapshot()
        if finished.returncode != 0 or not out.exists():
            raise RuntimeError(f"wrk failed ({finished.returncode}): {finished.stderr[-500:]}")
        result: dict[str, Any] = json.loads(out.read_text())
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = max(after.at - before.at, 1e-9)
    cpu = (used.ru_utime - children.ru_utime) + (used.ru_stime - children.ru_stime)
    cores = {**cores_used(before, after), "wrk": round(cpu / wall, 2)}
    answered = (result["ok"] + result["rejected"]) / max(result["duration_s"], 1e-9)
    sent = max(sum(result["sent"].values()), 1)
    return {
        "connections": connections,
        "threads": threads,
        "duration_s": result["duration_s"],
        "answered_per_s": round(answered, 1),
        "ok": result["ok"],
        "rejected": result["rejected"],
        "errors": result["failed"] + sum(result["socket_errors"].values()),
        "refused_by_status": result["refused"],
        "mix": {op: round(n / sent, 3) for op, n in sorted(result["sent"].items())},
        "latency_ms": {k: round(v, 2) for k, v in result["latency_ms"].items()},
        "cores": cores,
        "api_cpu_ms_per_command": round(1000 * cores.get("api", 0.0) / max(answered, 1e-9), 2),
    }


def phase(
    settings: Settings, logs: Path, tenant: Tenant, config: BenchConfig, meter: CpuMeter
) -> list[dict[str, Any]]:
    """The steps on an API process of their own (as many workers as the sweep's), started
    after the sweep's stopped: what the sweep left behind (a saturated step's backlog, its
    queues' long lines) weighs on neither generator's figures."""
    if not config.wrk:
        return []
    if not available():
        print("  wrk is not installed (`make bench` installs it): its steps are left out")
        return []
    api = start_api(settings, logs, config.api_workers)
    assert api.url is not None
    meter.track("api", api.pid)
    try:
        # A warm-up, as the sweep's: the API's first commands pay for its caches.
        step(api.url, tenant, create_queues(api.url, tenant), 4, 2, meter)
        return run_steps(api.url, api.pid, tenant, config.wrk, config.wrk_s, meter)
    finally:
        meter.untrack("api")
        api.stop()


def run_steps(
    url: str,
    api_pid: int,
    tenant: Tenant,
    connections: tuple[int, ...],
    duration_s: float,
    meter: CpuMeter,
) -> list[dict[str, Any]]:
    """A step per connection count, each on queues of its own: the script knows only the tickets
    it saw answered, and a ticket left at a counter by the sweep (or a step before) would keep
    that counter busy for good."""
    steps = []
    for n in connections:
        queues = create_queues(url, tenant)
        wait_idle(api_pid, timeout_s=30)
        found = step(url, tenant, queues, n, duration_s, meter)
        lat = found["latency_ms"]
        print(
            f"  wrk, {n} connections: {found['answered_per_s']}/s answered, "
            f"{found['errors']} errors, {found['rejected']} rejected; P50 {lat['50']} "
            f"P99 {lat['99']} max {lat['max']} ms; API {found['api_cpu_ms_per_command']} ms "
            f"CPU/command; cores {found['cores']}; refused {found['refused_by_status']}; "
            f"mix {found['mix']}",
            flush=True,
        )
        steps.append(found)
    return steps


def lines(http: dict[str, Any]) -> list[str]:
    """The report's rows: one per wrk step (closed loop: latency per answer)."""
    steps = http.get("wrk")
    if not steps:
        return []
    rows = [
        "   the same mix from wrk (outside, closed loop: each connection sends when answered)",
        f"   {'conns':>8} {'answered':>9} {'errors':>6} {'rejected':>8}  "
        f"{'P50':>8} {'P95':>8} {'P99':>8} {'max':>8} ms  API CPU/cmd  cores used",
    ]
    for s in steps:
        lat = s["latency_ms"]
        rows.append(
            f"   {s['connections']:>8} {s['answered_per_s']:>9.1f} {s['errors']:>6} "
            f"{s['rejected']:>8}  {lat['50']:>8} {lat['95']:>8} {lat['99']:>8} {lat['max']:>8}"
            f"  {s['api_cpu_ms_per_command']:>7} ms  {s['cores']}"
        )
    return rows
