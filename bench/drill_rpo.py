"""The drill's RPO: how much acknowledged work a lost disk costs.

Commands flow into the event store of a private cluster (one enqueue per append, as the API makes
them, at a steady rate, each append's acknowledgement time noted) while the backup runs and the
relay publishes to Kafka. Then the disk is lost: SIGKILL to PostgreSQL, its data directory
deleted, writers still writing. The store is restored from the backup folder to the latest point
it reaches, and each acknowledged event is looked for. Lost: the acknowledged events missing,
and the span of acknowledged work they cover (the loss minus the first missing one's ack). Then
`vq backup reclaim` puts back what Kafka has, and the events are counted again.

Two ways of archiving the WAL are measured: `stream` (`vq backup run`: pg_receivewal through a
slot, what the product uses) and `archive` (the server's archive_command copying each full WAL
file, archive_timeout 60 s, with `vq backup base` for the base backup). The archiver loses what
was written since the last file switch: the base backup switches files when it ends, so a loss
`seconds` after it loses up to `seconds` of work (less if a 16 MB file filled meanwhile: the WAL
rate is measured); 45 s by default, not 60, which would fall just after the timeout's switch.
"""

from __future__ import annotations

import asyncio
import shlex
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.drill_cluster import Cluster, vq, vq_background
from core.settings import Settings
from deploy import procs
from deploy.backup import pg
from deploy.backup.folder import BackupFolder
from deploy.errors import StackError
from deploy.topics import ensure_topics
from domain.commands import CreateQueue, EnqueueTicket
from domain.config import QueueConfig
from domain.decide import decide
from domain.evolve import evolve
from domain.state import QueueState, initial_state
from eventstore.migrate import migrate
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from eventstore.values import CommandContext, new_records

Say = Callable[[str], None]
WRITERS = 4
QUEUES_PER_WRITER = 5
ARCHIVE_TIMEOUT_S = 60


@dataclass
class RpoResult:
    method: str
    rate: float = 0.0  # acknowledged appends per second
    acknowledged: int = 0
    missing: int = 0
    lost_s: float = 0.0
    missing_after_reclaim: int | None = None
    lost_after_reclaim_s: float | None = None
    restore_s: float = 0.0
    wal_mb_per_s: float = 0.0  # how fast the WAL grew: a 16 MB file fills in 16 / this seconds
    notes: list[str] = field(default_factory=list)


@dataclass
class _Flow:
    acks: list[tuple[float, str]] = field(default_factory=list)  # (ack time, event id)
    failures: int = 0


async def _writer(
    store: PostgresEventStore, tenant: str, rate: float, stop: asyncio.Event, flow: _Flow
) -> None:
    states: list[QueueState] = [initial_state(str(uuid.uuid4())) for _ in range(QUEUES_PER_WRITER)]
    period, turn = 1.0 / rate, 0
    next_at = time.monotonic()
    while not stop.is_set():
        state = states[turn % len(states)]
        turn += 1
        command: Any = (
            EnqueueTicket(ticket_id=str(uuid.uuid4()), channel="kiosk")
            if state.created
            else CreateQueue(
                queue_id=state.queue_id, tenant_id=tenant, config=QueueConfig(name="D")
            )
        )
        now = datetime.now(UTC)
        version = state.version
        events = decide(state, command, now)
        cid = str(uuid.uuid4())
        context = CommandContext(
            command_id=cid, correlation_id=cid, actor="system:drill", occurred_at=now
        )
        append = new_records(
            stream_id=state.queue_id,
            tenant_id=tenant,
            expected_version=version,
            events=events,
            context=context,
        )
        try:
            await store.append([append])
        except Exception:  # the disk is gone: nothing more is acknowledged
            flow.failures += 1
            return
        acked = time.time()
        for event in events:
            evolve(state, event)
        flow.acks += [(acked, r.event_id) for r in append.records]
        next_at += period
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def _flow(
    settings: Settings, tenant: str, rate: float, seconds: float, lose: Callable[[], float]
) -> tuple[_Flow, float]:
    """Writers at `rate` appends/s in all; after `seconds`, `lose` (returns the loss time)."""
    pool = await open_pool(settings, min_size=WRITERS, max_size=WRITERS, wait=True)
    flow, stop = _Flow(), asyncio.Event()
    store = PostgresEventStore(pool)
    tasks = [
        asyncio.create_task(_writer(store, tenant, rate / WRITERS, stop, flow))
        for _ in range(WRITERS)
    ]
    try:
        await asyncio.sleep(seconds)
        lost_at = await asyncio.to_thread(lose)
        await asyncio.sleep(3)  # writers find out
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close(timeout=2)
    return flow, lost_at


def _prepare(
    cluster: Cluster, base: Settings, method: str, folder: BackupFolder, log: Path, tenant: str
) -> Any:
    """A cluster with the schema and a tenant (an established system), then its backup."""
    cluster.start()
    settings = cluster.settings(base)
    migrate(settings.pg_url, settings.db_schema)
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(
            f'INSERT INTO "{settings.db_schema}".tenants (tenant_id, name) VALUES (%s, %s)',
            (tenant, "drill"),
        )
    if method == "archive":
        folder.wal.mkdir(parents=True)
        pg.give_to_owner(folder.wal)
        target = shlex.quote(str(folder.wal))
        cluster.superuser("ALTER SYSTEM SET archive_mode = on")
        cluster.superuser(
            f"ALTER SYSTEM SET archive_command = 'test ! -f {target}/%f && cp %p {target}/%f'"
        )
        cluster.superuser(f"ALTER SYSTEM SET archive_timeout = '{ARCHIVE_TIMEOUT_S}s'")
        cluster.restart()
        done = vq(cluster, settings, "backup", "base", "--to", str(folder.root))
        if done.returncode != 0:
            raise RuntimeError(f"vq backup base failed: {done.stdout}{done.stderr}")
        return None
    runner = vq_background(cluster, settings, log, "backup", "run", "--to", str(folder.root))
    if not procs.wait_until(lambda: bool(folder.backups()), timeout=120):
        runner.kill()
        raise RuntimeError(f"no base backup within 120s; see {log}")
    return runner


def _stop(proc: Any) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except Exception:
            proc.kill()
            proc.wait()


def _wal_position(settings: Settings) -> int:
    with psycopg.connect(settings.pg_url) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return pg.parse_lsn(str(row[0]))


def _stored(settings: Settings) -> set[str]:
    with psycopg.connect(settings.pg_url) as conn:
        rows = conn.execute(f'SELECT event_id::text FROM "{settings.db_schema}".events').fetchall()
    return {str(row[0]) for row in rows}


def _loss(flow: _Flow, stored: set[str], lost_at: float) -> tuple[int, float]:
    missing = [at for at, event_id in flow.acks if event_id not in stored]
    return len(missing), (lost_at - min(missing)) if missing else 0.0


def measure(
    method: str, base: Settings, work: Path, seconds: float, rate: float, say: Say
) -> RpoResult:
    result = RpoResult(method)
    # A topic of its own: another run's events (another tenant) are not this store's to reclaim.
    base = base.model_copy(update={"topic_prefix": f"{base.topic_prefix}.{method}"})
    origin = Cluster.fresh(work / "origin")
    folder = BackupFolder(work / "backups")
    restored = Cluster.fresh(work / "restored")
    runner = relay = None
    try:
        tenant = str(uuid.uuid4())
        runner = _prepare(origin, base, method, folder, work / "backup.log", tenant)
        settings = origin.settings(base)
        try:
            ensure_topics(settings, [settings.events_topic], settings.kafka_partitions)
            relay = vq_background(origin, settings, work / "relay.log", "relay")
        except StackError as exc:  # the stack's Kafka is down: measure without it
            result.notes.append(f"no relay, no reclaim: {exc.message}")
        say(f"  {method}: commands at {rate:.0f}/s for {seconds:.0f}s, then the disk is lost")

        wal_start, flow_start = _wal_position(settings), time.monotonic()

        def lose() -> float:
            wal_mb = (_wal_position(settings) - wal_start) / 2**20
            result.wal_mb_per_s = wal_mb / (time.monotonic() - flow_start)
            origin.lose_disk()
            return time.time()

        flow, lost_at = asyncio.run(_flow(settings, tenant, rate, seconds, lose))
        _stop(runner)
        _stop(relay)
        result.acknowledged = len(flow.acks)
        result.rate = len(flow.acks) / seconds
        started = time.monotonic()
        done = vq(
            restored, base, "restore", "--from", str(folder.root), "--data", str(restored.pgdata)
        )
        result.restore_s = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"vq restore failed: {done.stdout}{done.stderr}")
        result.notes += [line for line in done.stdout.splitlines() if line.startswith("recovered")]
        restored.start()
        after = restored.settings(base)
        result.missing, result.lost_s = _loss(flow, _stored(after), lost_at)
        if relay is not None:
            done = vq(restored, after, "backup", "reclaim")
            result.notes += [line.strip() for line in (done.stdout + done.stderr).splitlines()]
            result.missing_after_reclaim, result.lost_after_reclaim_s = _loss(
                flow, _stored(after), lost_at
            )
    finally:
        _stop(runner)
        _stop(relay)
        for cluster in (origin, restored):
            if cluster.pgdata.exists():
                cluster.stop()
    return result
