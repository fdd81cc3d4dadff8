"""The drill's RTO: a 1,000,000-event store lost and brought back until queries answer.

A private cluster is filled with real domain events (bench/fill.py) in two halves: the first
before `vq backup run` takes its base backup, the second after, so the restore both extracts a
base backup and replays the WAL of half a million events. The disk is lost (SIGKILL, data
directory deleted) and Redis has no read model (as if it was lost too). The clock runs from the
loss to the first correct answer, through the runbook's steps: `vq restore` into the stack's data
directory, the cluster started as `vq stack up` starts it, `vq projections rebuild`, `vq api`
started, and `GET /v1/queues/{id}` answering, for each long-line queue, the stream version of the
store and the whole line. Then `vq projections check` (not on the clock) must find 0 differences.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import env, fill
from bench.drill_cluster import Cluster, free_port, vq, vq_background
from core.settings import Settings
from deploy import procs
from deploy.backup.folder import BackupFolder
from deploy.backup.status import last_commit
from eventstore.migrate import migrate

Say = Callable[[str], None]


def lines_for(events: int) -> tuple[int, ...]:
    """The benchmark's long lines (100, 10,000 and 100,000 waiting) in a 1,000,000-event store;
    smaller ones in a smaller store."""
    return tuple(n for n in (100, 10_000, 100_000) if n <= events // 10) or (events // 20,)


@dataclass
class RtoResult:
    events: int = 0
    fill_s: float = 0.0
    base_backup_mb: float = 0.0
    wal_mb: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)
    rto_s: float = 0.0
    check_differences: int | None = None
    check_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def _db_now(settings: Settings) -> datetime:
    with psycopg.connect(settings.pg_url) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def _versions(settings: Settings, queues: list[str]) -> dict[str, int]:
    with psycopg.connect(settings.pg_url) as conn:
        rows = conn.execute(
            f'SELECT stream_id::text, version FROM "{settings.db_schema}".streams '
            "WHERE stream_id = ANY(%s::uuid[])",
            [queues],
        ).fetchall()
    return {str(row[0]): int(row[1]) for row in rows}


def _answers(url: str, key: str, expected: dict[str, tuple[int, int]]) -> bool:
    """Every queue answers its store version and its whole line."""
    for queue_id, (version, waiting) in expected.items():
        try:
            answer = httpx.get(
                f"{url}/v1/queues/{queue_id}",
                headers={"Authorization": f"Bearer {key}"},
                timeout=5,
            )
        except httpx.HTTPError:
            return False
        if answer.status_code != 200:
            return False
        body = answer.json()
        if body.get("version") != version or body.get("waiting") != waiting:
            return False
    return True


def _fill(settings: Settings, tenant: str, events: int, lines: tuple[int, ...], say: Say) -> Any:
    filled = asyncio.run(fill.fill(settings, tenant, events, lines, busy_queues=100))
    say(f"    {filled.events:,} events in {filled.seconds:.0f}s")
    return filled


def _step(result: RtoResult, name: str, started: float) -> float:
    now = time.monotonic()
    result.steps[name] = now - started
    return now


def _stop(proc: Any) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except Exception:
            proc.kill()
            proc.wait()


def _load(cluster: Cluster, base: Settings, work: Path, events: int, say: Say) -> tuple[Any, Any]:
    """Fill half, start the backup (base backup, WAL streaming), fill the other half."""
    cluster.start()
    settings = cluster.settings(base)
    migrate(settings.pg_url, settings.db_schema)
    tenant = asyncio.run(env.create_tenant(settings))
    say(
        f"  filling {events // 2:,} events, then `vq backup run`, then {events - events // 2:,} more"
    )
    first = _fill(settings, tenant.tenant_id, events // 2, lines_for(events), say)
    folder = BackupFolder(work / "backups")
    runner = vq_background(
        cluster, settings, work / "backup.log", "backup", "run", "--to", str(folder.root)
    )
    if not procs.wait_until(lambda: bool(folder.backups()), timeout=600):
        raise RuntimeError(f"no base backup within 600s; see {work / 'backup.log'}")
    second = _fill(settings, tenant.tenant_id, max(events - first.events, 0), (), say)
    now = _db_now(settings)
    if not procs.wait_until(lambda: (last_commit(folder) or now) >= now, timeout=120, interval=1):
        raise RuntimeError("the WAL receiver did not get the last commit within 120s")
    return tenant, (first, second, runner, folder)


def measure(base: Settings, work: Path, events: int, say: Say) -> RtoResult:
    result = RtoResult()
    cluster = Cluster.fresh(work / "stack")
    api = runner = None
    try:
        started = time.monotonic()
        tenant, (first, second, runner, folder) = _load(cluster, base, work, events, say)
        result.fill_s = time.monotonic() - started
        result.events = first.events + second.events
        settings = cluster.settings(base)
        lines = {queue: len(tickets) for queue, tickets in first.lines.items()}
        versions = _versions(settings, list(lines))
        expected = {queue: (versions[queue], lines[queue]) for queue in lines}
        [backup] = folder.backups()
        result.base_backup_mb = backup.bytes / 1e6
        result.wal_mb = sum(p.stat().st_size for p in folder.wal_files()) / 1e6

        say("  the disk is lost; the clock runs")
        cluster.lose_disk()
        clock = t0 = time.monotonic()
        _stop(runner)
        done = vq(
            cluster, settings, "restore", "--from", str(folder.root), "--data", str(cluster.pgdata)
        )
        if done.returncode != 0:
            raise RuntimeError(f"vq restore failed: {done.stdout}{done.stderr}")
        result.notes += [line.strip() for line in done.stdout.splitlines()[:4]]
        clock = _step(result, "restore", clock)
        cluster.start()
        clock = _step(result, "postgres start", clock)
        done = vq(cluster, settings, "projections", "rebuild")
        if done.returncode != 0:
            raise RuntimeError(f"vq projections rebuild failed: {done.stdout}{done.stderr}")
        result.notes.append(done.stdout.strip().splitlines()[-1])
        clock = _step(result, "rebuild", clock)
        port = free_port()
        api = vq_background(cluster, settings, work / "api.log", "api", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        if not procs.wait_until(lambda: _answers(url, tenant.viewer, expected), timeout=300):
            raise RuntimeError(
                f"the API did not answer correctly within 300s; see {work / 'api.log'}"
            )
        _step(result, "api answers", clock)
        result.rto_s = time.monotonic() - t0
        say(f"  queries answer {result.rto_s:.0f}s after the loss; checking the read models")
        started = time.monotonic()
        done = vq(cluster, settings, "projections", "check")
        result.check_s = time.monotonic() - started
        tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
        result.notes.append(tail)
        if "differences" in tail:
            result.check_differences = int(tail.rsplit(":", 1)[1].split()[0])
    finally:
        _stop(api)
        _stop(runner)
        if cluster.pgdata.exists():
            cluster.stop()
    return result
