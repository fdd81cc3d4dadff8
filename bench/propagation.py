"""Propagation: from a command's answer to the read model (Redis pub/sub) and to SSE subscribers.

The whole write-to-read path runs: API -> PostgreSQL -> relay -> Kafka -> worker -> Redis ->
pub/sub -> SSE. The generator records, for every successful command, the queue, the stream
version it answered and when the answer arrived; the observer records when each queue version
arrived on pub/sub and on SSE. A command has propagated when a version at least its own arrived.

The observer also reads the events topic, so the path is split where its two stages meet: the
relay's part (answer -> the event readable in Kafka) and the worker's (Kafka -> the read model's
pub/sub message), per command: where the time goes when the end-to-end figure misses.
"""

from __future__ import annotations

import bisect
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.env import Tenant
from bench.http_sweep import analyse, run_generator, with_generator
from bench.procs import CpuMeter, cores_used
from bench.stats import summary_ms
from core.settings import Settings
from projections.layout import Keys


def has_route(url: str, path: str) -> bool:
    """Whether the API serves `path` (the query side may not be wired in yet)."""
    try:
        spec = httpx.get(f"{url}/openapi.json", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return False
    return path in spec.get("paths", {})


def delays(
    commands: list[tuple[str, int, float]], arrived: list[float | None]
) -> tuple[list[float], int]:
    """Per command: its arrival (`_arrivals`) minus its answer time (0 when the read side beat
    the answer back to the client); and how many never arrived."""
    delays = [
        max(at - answered, 0.0)
        for (_, _, answered), at in zip(commands, arrived, strict=True)
        if at is not None
    ]
    return delays, sum(1 for at in arrived if at is None)


def timeline(
    commands: list[tuple[str, int, float]], arrived: list[float | None], bucket_s: float = 0.5
) -> list[dict[str, Any]]:
    """Answer -> read model by when the commands were answered, a row per `bucket_s` from the
    first answer (t, n, p50_ms, p99_ms, max_ms, unseen): a stall shows where a percentile of the
    whole window hides it (bench/README.md, section 22)."""
    if not commands:
        return []
    first = min(answered for _, _, answered in commands)
    late: dict[int, list[float]] = {}
    unseen: Counter[int] = Counter()
    for (_, _, answered), at in zip(commands, arrived, strict=True):
        index = int((answered - first) / bucket_s)
        if at is None:
            unseen[index] += 1
        else:
            late.setdefault(index, []).append(max(at - answered, 0.0))
    rows = []
    for index in range(max([*late, *unseen]) + 1):
        summary = summary_ms(late.get(index, []))
        rows.append(
            {
                "t": round(index * bucket_s, 3),
                "n": summary["n"],
                "p50_ms": summary["p50"],
                "p99_ms": summary["p99"],
                "max_ms": summary["max"],
                "unseen": unseen[index],
            }
        )
    return rows


def _stages(
    commands: list[tuple[str, int, float]],
    in_kafka: list[float | None],
    published: list[float | None],
) -> dict[str, Any]:
    """Per command seen at both: answer -> Kafka (the relay) and Kafka -> pub/sub (the worker)."""
    relay, worker = [], []
    for (_, _, answered), kafka, pubsub in zip(commands, in_kafka, published, strict=True):
        if kafka is None or pubsub is None:
            continue
        relay.append(max(kafka - answered, 0.0))
        worker.append(max(pubsub - max(kafka, answered), 0.0))
    return {"relay": summary_ms(relay), "worker": summary_ms(worker)}


def _arrivals(commands: list[tuple[str, int, float]], seen: list[list[Any]]) -> list[float | None]:
    """Per command: the first arrival of its queue at >= its version (None: never)."""
    by_queue: dict[str, tuple[list[int], list[float]]] = {}
    for queue_id, version, at in sorted(seen, key=lambda row: row[2]):
        versions, times = by_queue.setdefault(queue_id, ([], []))
        if versions and version <= versions[-1]:
            continue  # keep the versions increasing: an older or repeated one says nothing new
        versions.append(version)
        times.append(at)
    arrived: list[float | None] = []
    for queue_id, version, _ in commands:
        versions, times = by_queue.get(queue_id, ([], []))
        index = bisect.bisect_left(versions, version)
        arrived.append(times[index] if index < len(versions) else None)
    return arrived


def measure(
    settings: Settings,
    url: str,
    tenant: Tenant,
    queues: list[str],
    rate: float,
    duration_s: float,
    warmup_s: float,
    meter: CpuMeter,
) -> dict[str, Any]:
    sse = has_route(url, "/v1/queues/{queue_id}/events")
    with tempfile.TemporaryDirectory() as folder:
        observer = Observer(
            settings,
            tenant,
            warmup_s + duration_s + 15,
            Path(folder),
            api=url if sse else None,
            kafka=True,
            queues=queues,
        )
        meter.track("observer", observer.proc.pid)
        before = meter.snapshot()
        result = run_generator(url, tenant, queues, rate, duration_s, warmup_s, meter, seed=11)
        cores = with_generator(cores_used(before, meter.snapshot()), result, before)
        seen = observer.seen()
        meter.untrack("observer")
    commands = answered(queues, result)
    published = _arrivals(commands, seen["pubsub"])
    pubsub, pubsub_missing = delays(commands, published)
    report: dict[str, Any] = {
        "commands": analyse(result),
        "cores": cores,
        "read_model": {**summary_ms(pubsub), "not_seen": pubsub_missing},
        "sse": None,
        "stages": _stages(commands, _arrivals(commands, seen["kafka"]), published),
        "timeline": timeline(commands, published),
    }
    if sse:
        streamed, sse_missing = delays(commands, _arrivals(commands, seen["sse"]))
        report["sse"] = {
            **summary_ms(streamed),
            "not_seen": sse_missing,
            "streams": seen["sse_streams"],
        }
    return report


def answered(queues: list[str], result: dict[str, Any]) -> list[tuple[str, int, float]]:
    """The generator's commands answered after the warm-up: (queue, version, when answered)."""
    window = result["start"] + result["warmup_s"]
    return [
        (queues[q], version, done)
        for due, _, q, status, done, version in result["samples"]
        if due >= window and 200 <= status < 300
    ]


class Observer:
    """The observer process (bench/observer.py): when each queue version reached the read
    models' pub/sub channel and, when asked, the events topic (`kafka`) and the API's SSE
    streams of `queues` (`api`). The followers phase asks for pub/sub alone: its own followers
    say when the API pushed, and the published time splits a push where the fan-out starts."""

    def __init__(
        self,
        settings: Settings,
        tenant: Tenant,
        seconds: float,
        folder: Path,
        *,
        api: str | None = None,
        kafka: bool = False,
        queues: list[str] | None = None,
    ) -> None:
        self._out = folder / "seen.json"
        config = folder / "observer.json"
        config.write_text(
            json.dumps(
                {
                    "redis_url": settings.redis_dsn,
                    "pattern": Keys(settings.redis_prefix).changes(tenant.tenant_id, "*"),
                    "api": api,
                    "kafka": settings.kafka_servers if kafka else None,
                    "events_topic": settings.events_topic,
                    "viewer_key": tenant.viewer,
                    "queues": queues or [],
                    "seconds": seconds,
                    "out": str(self._out),
                }
            )
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.observer", str(config)], stdout=subprocess.PIPE
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("the read-side observer did not start")

    def seen(self) -> dict[str, Any]:
        """What it saw (`observe`'s answer), once its time is up."""
        self.proc.wait()
        found: dict[str, Any] = json.loads(self._out.read_text())
        return found

    def published(self, commands: list[tuple[str, int, float]]) -> list[float | None]:
        """Per command: when its queue version was published (None: never)."""
        return _arrivals(commands, self.seen()["pubsub"])


def wait_caught_up(
    settings: Settings, tenant: Tenant, queues: list[str], timeout_s: float = 60
) -> float:
    """Wait until the read model has every queue's newest version; returns the seconds waited."""
    import psycopg
    import redis

    with psycopg.connect(
        settings.pg_url, autocommit=True, options=f"-c search_path={settings.db_schema}"
    ) as conn:
        rows = conn.execute("SELECT stream_id::text, version FROM streams").fetchall()
    wanted = {row[0]: row[1] for row in rows if row[0] in set(queues)}
    client = redis.Redis.from_url(settings.redis_dsn)
    keys = Keys(settings.redis_prefix)
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout_s:
            behind = [
                q
                for q, v in wanted.items()
                if int(client.hget(keys.queue(tenant.tenant_id, q), "version") or 0) < v
            ]
            if not behind:
                break
            time.sleep(0.2)
    finally:
        client.close()
    return time.monotonic() - started
