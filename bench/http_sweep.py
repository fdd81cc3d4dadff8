"""Commands through HTTP: 50 queues, the realistic mix, open loop at rising offered rates.

Each step runs the generator in a process of its own (`bench.loadgen`) and reports the achieved
rate, the answers by kind and the latency from the intended send time. The sweep stops at the
first step the system cannot sustain (that step is reported: it shows how it saturates).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.env import Tenant, loadavg
from bench.mix import COUNTERS
from bench.procs import CpuMeter, CpuSnapshot, cores_used, wait_idle
from bench.profile import Profiler
from bench.stats import summary_ms

QUEUES = 50
# Sustained: nearly all of the offered rate answered, nearly no errors.
SUSTAINED_SHARE = 0.95
MAX_ERROR_SHARE = 0.01


def create_queues(url: str, tenant: Tenant, count: int = QUEUES) -> list[str]:
    ids = []
    with httpx.Client(
        base_url=url, timeout=30, headers={"Authorization": f"Bearer {tenant.admin}"}
    ) as client:
        for index in range(count):
            response = client.post(
                "/v1/queues",
                json={
                    "name": f"Gate {index + 1}",
                    "prefix": "G",
                    "counters": list(COUNTERS),  # as many as the mix calls at
                },
            )
            response.raise_for_status()
            ids.append(response.json()["queue_id"])
    return ids


def run_generator(
    url: str,
    tenant: Tenant,
    queues: list[str],
    rate: float,
    duration_s: float,
    warmup_s: float,
    meter: CpuMeter | None = None,
    seed: int = 7,
) -> dict[str, Any]:
    """One open-loop step in a subprocess; returns its raw samples."""
    with tempfile.TemporaryDirectory() as folder:
        config_path, out = Path(folder) / "config.json", Path(folder) / "out.json"
        config_path.write_text(
            json.dumps(
                {
                    "url": url,
                    "staff_key": tenant.staff,
                    "kiosk_key": tenant.kiosk,
                    "queues": queues,
                    "rate": rate,
                    "duration_s": duration_s,
                    "warmup_s": warmup_s,
                    "seed": seed,
                    "out": str(out),
                }
            )
        )
        proc = subprocess.Popen([sys.executable, "-m", "bench.loadgen", str(config_path)])
        if meter is not None:
            meter.track("loadgen", proc.pid)
        if proc.wait() != 0:
            raise RuntimeError(f"load generator failed with {proc.returncode}")
        if meter is not None:
            meter.untrack("loadgen")
        result: dict[str, Any] = json.loads(out.read_text())
    return result


def analyse(result: dict[str, Any]) -> dict[str, Any]:
    """Achieved rate, answers by kind and latency of the measured window (warm-up excluded)."""
    window_start = result["start"] + result["warmup_s"]
    rows = [r for r in result["samples"] if r[0] >= window_start]
    statuses: Counter[str] = Counter()
    ops: Counter[str] = Counter()
    latencies = []
    by_op: dict[str, list[float]] = {}
    good_done = []
    for due, op, _, status, done, _ in rows:
        by_op.setdefault(op, []).append(done - due)
        kind = "ok" if 200 <= status < 300 else "rejected" if 400 <= status < 500 else "error"
        statuses[kind] += 1
        ops[op] += 1
        latencies.append(done - due)
        if kind != "error":
            good_done.append(done)
    answered = len(good_done)
    span = max(max(good_done, default=window_start) - window_start, result["duration_s"])
    errors = Counter(str(r[3]) for r in rows if not (200 <= r[3] < 500))
    return {
        "offered_per_s": result["rate"],
        "achieved_per_s": round(answered / span, 1),
        "sent": len(rows),
        "ok": statuses["ok"],
        "rejected": statuses["rejected"],
        "errors": statuses["error"],
        "errors_by_status": dict(errors),
        "mix": {op: round(n / max(len(rows), 1), 3) for op, n in sorted(ops.items())},
        "latency": summary_ms(latencies),
        "latency_by_op": {op: summary_ms(values) for op, values in sorted(by_op.items())},
    }


def with_generator(
    cores: dict[str, float], result: dict[str, Any], before: CpuSnapshot
) -> dict[str, float]:
    """Add the generator's own CPU (it reported it: an exited process is gone from /proc)."""
    wall = max(result["start"] + result["warmup_s"] + result["duration_s"] - before.at, 1e-9)
    return {**cores, "loadgen": round(result["cpu_s"] / wall, 2)}


def sustained(step: dict[str, Any]) -> bool:
    return bool(
        step["achieved_per_s"] >= SUSTAINED_SHARE * step["offered_per_s"]
        and step["errors"] <= MAX_ERROR_SHARE * max(step["sent"], 1)
    )


def sweep(
    url: str,
    api_pid: int,
    tenant: Tenant,
    queues: list[str],
    rates: list[float],
    duration_s: float,
    warmup_s: float,
    meter: CpuMeter,
    profile_dir: Path | None,
) -> list[dict[str, Any]]:
    steps = []
    for rate in rates:
        wait_idle(api_pid, timeout_s=30)  # no backlog of the step before in this one
        load_before = loadavg()
        profiler = None
        if profile_dir is not None:  # sampling at 100 Hz costs the API well under 1 % CPU
            profiler = Profiler(
                api_pid, duration_s + warmup_s, profile_dir / f"api-{int(rate)}.raw"
            )
        before = meter.snapshot()
        result = run_generator(url, tenant, queues, rate, duration_s, warmup_s, meter)
        step = analyse(result)
        step["cores"] = with_generator(cores_used(before, meter.snapshot()), result, before)
        # CPU per answered command: robust to other load on the box, unlike the rates.
        step["api_cpu_ms_per_command"] = round(
            1000 * step["cores"].get("api", 0.0) / max(step["achieved_per_s"], 1e-9), 2
        )
        step["loadavg_before"] = round(load_before, 2)
        if profiler is not None:
            step["profile"] = profiler.result()
        steps.append(step)
        lat = step["latency"]
        print(
            f"  {rate:>6.0f}/s offered: {step['achieved_per_s']:>7.1f}/s answered, "
            f"{step['errors']} errors, {step['rejected']} rejected; "
            f"P50 {lat['p50']} P99 {lat['p99']} max {lat['max']} ms; "
            f"API {step['api_cpu_ms_per_command']} ms CPU/command; cores {step['cores']}",
            flush=True,
        )
        if not sustained(step):
            break
    return steps
