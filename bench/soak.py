"""Soak: the whole product for a long while at a steady rate. Does anything drift?

`vq api`, `vq relay` and `vq worker` as separate processes on a fresh place, 50 queues, the
open-loop generator and realistic mix of the HTTP phase at `soak_rate` commands/s (well under
what this box sustains: drift, not saturation, is what should show) for `soak_s` seconds, and an
observer following every queue's SSE stream (bench/soak_procs.py). Every `INTERVAL_S`: the
processes' VmRSS, the relay's and the workers' lags (the API's /metrics), the command latency
P50/P99 and the errors of the answers that came in the interval, answer -> SSE P99, Redis's
memory and PostgreSQL's sizes (bench/soak_gauges.py). A line a minute while it runs; at the end
a verdict per figure (the median of the last 10 % of the run against the first 10 % after the
warm-up: flat within 10 %; lags near 0), the series in the JSON and a chart (bench/soak_chart.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench import env, procs, propagation
from bench.aio import run
from bench.config import BenchConfig
from bench.mix import COUNTERS
from bench.soak_gauges import Gauges
from bench.soak_report import PROGRESS_EVERY, Progress, Say
from bench.soak_series import (
    INTERVAL_S,
    UNSEEN_AFTER_S,
    Commands,
    Propagation,
    Summary,
    Tail,
    flat,
    growth,
    near_zero,
)
from core.settings import Settings

QUEUES = 50
TICK_AFTER_S = 0.8  # past an interval's end, so the generator (flushing every 0.5 s) is past it
FLAT = ("rss_api", "rss_relay", "rss_worker", "p99", "sse_p99")
NEAR_ZERO = ("relay_lag", "consumer_lag")
GROWS = ("rss_api", "rss_relay", "rss_worker", "pg_schema_mb", "events", "redis_keys", "redis_mb")


def warmup_s(duration_s: float) -> float:
    """Left out of the verdicts: caches filling, connections opening, the JIT-free first calls."""
    return min(max(0.05 * duration_s, 15.0), 120.0)


def create_queues(url: str, tenant: env.Tenant) -> list[str]:
    """`QUEUES` queues with the mix's counters: it calls at any free one of them."""
    headers = {"Authorization": f"Bearer {tenant.admin}"}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
        made = []
        for index in range(QUEUES):
            answer = client.post(
                "/v1/queues",
                json={"name": f"Soak {index + 1}", "prefix": "S", "counters": list(COUNTERS)},
            )
            answer.raise_for_status()
            made.append(answer.json()["queue_id"])
    return made


class SoakPhase:
    def __init__(
        self, config: BenchConfig, meter: procs.CpuMeter, logs: Path, chart: Path, say: Say
    ) -> None:
        self.config, self.meter, self.logs, self.chart, self.say = config, meter, logs, chart, say

    def run(self, settings: Settings) -> dict[str, Any]:
        """`settings`: a fresh place (schema migrated, events and positions topics made)."""
        c = self.config
        tenant = run(env.create_tenant(settings))
        logs = self.logs / "soak"
        services = {
            "api": procs.start_api(settings, logs, c.api_workers),
            "relay": procs.start(settings, "relay", ["relay"], logs),
            "worker": procs.start(settings, "worker", ["worker", "--loglevel", "warning"], logs),
        }
        for part, service in services.items():
            self.meter.track(part, service.pid)
        try:
            url = services["api"].url
            assert url is not None
            queues = create_queues(url, tenant)
            caught_up = propagation.wait_caught_up(settings, tenant, queues)
            self.say(f"  read side live ({caught_up:.1f}s after the queues were made)")
            pids = {part: service.pid for part, service in services.items()}
            with tempfile.TemporaryDirectory(prefix="vq-soak-") as folder:
                result = self._soak(settings, url, tenant, queues, pids, Path(folder))
            result["memory"] = {p: procs.peak_rss_mb(s.pid) for p, s in services.items()}
        finally:
            for part, service in services.items():
                self.meter.untrack(part)
                service.stop()
        result["chart"] = _draw(result, self.chart)
        return result

    def _spawn(self, role: str, folder: Path, config: dict[str, Any]) -> subprocess.Popen[bytes]:
        path = folder / f"{role}.json"
        path.write_text(json.dumps({**config, "out": str(folder / f"{role}.jsonl")}))
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.soak_procs", role, str(path)],
            stdout=subprocess.PIPE if role == "observe" else None,  # it says when it is ready
        )
        self.meter.track("loadgen" if role == "load" else "observer", process.pid)
        return process

    def _soak(
        self,
        settings: Settings,
        url: str,
        tenant: env.Tenant,
        queues: list[str],
        pids: dict[str, int],
        folder: Path,
    ) -> dict[str, Any]:
        c = self.config
        observer = self._spawn(
            "observe", folder, {"api": url, "viewer_key": tenant.viewer, "queues": queues}
        )
        seen = Tail(folder / "observe.jsonl")
        load: subprocess.Popen[bytes] | None = None
        try:
            assert observer.stdout is not None
            if observer.stdout.readline().strip() != b"ready":
                raise RuntimeError("the soak's SSE observer did not start")
            load = self._spawn(
                "load",
                folder,
                {
                    "url": url,
                    "staff_key": tenant.staff,
                    "kiosk_key": tenant.kiosk,
                    "queues": queues,
                    "rate": c.soak_rate,
                    "duration_s": c.soak_s,
                    "warmup_s": 0,  # the verdicts leave the warm-up out, the load does not stop
                    "seed": 13,
                },
            )
            pids = {**pids, "loadgen": load.pid, "observer": observer.pid}
            gauges = Gauges(settings, url, pids, self.meter)
            try:
                result = self._loop(load, Tail(folder / "load.jsonl"), seen, gauges)
            finally:
                gauges.close()
        finally:
            _stop(observer)
            if load is not None:
                _stop(load)
            self.meter.untrack("loadgen")
            self.meter.untrack("observer")
        ends = [line for line in seen.lines() if "end" in line]  # the observer's last line
        result["sse"]["streams_ended"] = ends[0]["ended"] if ends else None
        result["sse"]["streams_failed"] = ends[0]["failed"] if ends else None
        result["queues"] = len(queues)
        return result

    def _loop(
        self, load: subprocess.Popen[bytes], load_tail: Tail, seen_tail: Tail, gauges: Gauges
    ) -> Summary:
        c = self.config
        warmup = warmup_s(c.soak_s)
        commands, prop = Commands(warmup), Propagation(warmup)
        progress = Progress(c.soak_s, self.say)
        rows: dict[str, dict[int, Summary]] = {"gauges": {}, "commands": {}, "sse": {}}
        started = time.monotonic()
        while commands.t0 is None:  # time 0: the first command's due time
            for line in load_tail.lines():
                prop.commanded(commands.add(line))
            _check(load, started, 60)
            time.sleep(0.1)
        tick, ended_at = 1, None
        while True:
            time.sleep(max(0.0, commands.t0 + tick * INTERVAL_S + TICK_AFTER_S - time.monotonic()))
            for line in load_tail.lines():
                prop.commanded(commands.add(line))
            for line in seen_tail.lines():
                prop.arrived(line.get("rows", []))
            now = time.monotonic()
            rows["gauges"][tick - 1] = sample = gauges.sample()
            for index, summary, latencies in commands.ready():
                rows["commands"][index] = summary
                progress.commands(summary, latencies)
            for index, summary, delays in prop.settle(now, commands.final_upto):
                rows["sse"][index] = summary
                progress.delays += delays
            if tick % PROGRESS_EVERY == 0:
                progress.line(tick * INTERVAL_S, sample)
            if commands.end is not None:
                ended_at = ended_at or now
                if prop.settled(commands.final_upto) or now - ended_at > UNSEEN_AFTER_S + 5:
                    break
            else:
                _check(load, started, c.soak_s + 120)
            tick += 1
        return self._result(commands, prop, rows, warmup)

    def _result(
        self,
        commands: Commands,
        prop: Propagation,
        rows: dict[str, dict[int, Summary]],
        warmup: float,
    ) -> Summary:
        c = self.config
        indexes = sorted(set(rows["gauges"]) | set(rows["commands"]) | set(rows["sse"]))
        series = [
            {
                "t": (i + 1) * INTERVAL_S,
                **rows["gauges"].get(i, {}),
                **rows["commands"].get(i, {}),
                **rows["sse"].get(i, {}),
            }
            for i in indexes
        ]
        measured = [r for r in series if warmup < r["t"] <= c.soak_s and "ok" in r]
        answered = sum(r["ok"] + r["rejected"] for r in measured)
        verdicts = [flat(series, key, c.soak_s, warmup) for key in FLAT]
        verdicts += [near_zero(series, key, c.soak_s, warmup, c.soak_rate) for key in NEAR_ZERO]
        return {
            "rate": c.soak_rate,
            "duration_s": c.soak_s,
            "warmup_s": warmup,
            "interval_s": INTERVAL_S,
            "box_cores": os.cpu_count() or 1,
            "commands": {
                "answered_per_s": round(answered / max(len(measured) * INTERVAL_S, 1e-9), 1),
                "ok": sum(r["ok"] for r in measured),
                "rejected": sum(r["rejected"] for r in measured),
                "errors": sum(r["errors"] for r in measured),
                "resent": commands.resent,
                "errors_by_status": dict(
                    sum((Counter(r["errors_by_status"]) for r in measured), Counter[str]())
                ),
                "latency": commands.overall.summary(),
                "generator_cpu_s": (commands.end or {}).get("cpu_s"),
            },
            "sse": {**prop.overall.summary(), "unseen": prop.unseen},
            "verdicts": verdicts,
            "growth": [growth(series, key, c.soak_s, warmup) for key in GROWS],
            "series": series,
        }


def _check(process: subprocess.Popen[bytes], started: float, within_s: float) -> None:
    if process.poll() not in (None, 0):
        raise RuntimeError(f"the soak's load generator failed with {process.returncode}")
    if time.monotonic() - started > within_s:
        raise TimeoutError("the soak's load generator did not finish in time")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _draw(result: Summary, path: Path) -> str | None:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    from bench.soak_chart import draw  # imports pyplot: only once the backend is set

    draw(result, path)
    return str(path)
