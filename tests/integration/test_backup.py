"""Backups and point-in-time recovery on a private PostgreSQL cluster (never the shared stack's).

One scenario, through the real commands: `vq backup run` streams the WAL and takes a base backup
of a cluster of our own; events are appended before and after a moment T; the relay publishes
them; the disk is lost (SIGKILL, data directory deleted); `vq restore --to T` brings back exactly
the events before T, `vq restore` (latest) all of them; `vq backup reclaim` puts back from Kafka
what the restore to T lost; `vq projections rebuild` and `check` agree with the restored store.
Redis and Kafka are the shared ones under the test's own prefix and topics.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.drill_cluster import REPO, Cluster, vq
from core.settings import Settings
from deploy import procs
from deploy.backup import pg
from deploy.backup.aftermath import RELAY_CHECKPOINT
from deploy.backup.folder import BackupFolder, BaseBackup
from deploy.backup.reclaim import Found, appends
from deploy.backup.status import describe, last_commit
from deploy.errors import StackError
from domain.commands import CreateQueue, EnqueueTicket
from domain.config import QueueConfig
from domain.decide import decide
from domain.evolve import evolve
from domain.recorded import RecordedEvent
from domain.state import initial_state
from eventstore.migrate import migrate
from eventstore.relay import Relay


def _cli(settings: Settings, cluster: Cluster, *args: str) -> Any:
    return vq(cluster, settings, *args, timeout=120)


def _on(cluster: Cluster, settings: Settings) -> Settings:
    return cluster.settings(settings)


class Writer:
    """Tickets appended through the event store, one append per command, as the API does."""

    def __init__(self, settings: Settings, tenant: str) -> None:
        self.settings, self.tenant = settings, tenant
        self.states: dict[str, Any] = {}

    def enqueue(self, queue: str, count: int) -> list[str]:
        return asyncio.run(self._enqueue(queue, count))

    async def _enqueue(self, queue: str, count: int) -> list[str]:
        from eventstore.pool import open_pool
        from eventstore.postgres import PostgresEventStore
        from eventstore.values import CommandContext, new_records

        state = self.states.get(queue)
        commands: list[Any] = []
        if state is None:
            state = self.states[queue] = initial_state(queue)
            config = QueueConfig(name="Q")
            commands.append(CreateQueue(queue_id=queue, tenant_id=self.tenant, config=config))
        commands += [
            EnqueueTicket(ticket_id=str(uuid.uuid4()), channel="kiosk") for _ in range(count)
        ]
        pool = await open_pool(self.settings, min_size=1, max_size=1, wait=True)
        ids: list[str] = []
        try:
            store = PostgresEventStore(pool)
            for command in commands:
                now = datetime.now(UTC)
                version = state.version
                events = decide(state, command, now)
                for event in events:
                    evolve(state, event)
                cid = str(uuid.uuid4())
                context = CommandContext(
                    command_id=cid, correlation_id=cid, actor="system:test", occurred_at=now
                )
                append = new_records(
                    stream_id=queue,
                    tenant_id=self.tenant,
                    expected_version=version,
                    events=events,
                    context=context,
                )
                await store.append([append])
                ids += [r.event_id for r in append.records]
        finally:
            await pool.close()
        return ids


def _event_ids(settings: Settings) -> set[str]:
    with psycopg.connect(settings.pg_url) as conn:
        rows = conn.execute(f'SELECT event_id::text FROM "{settings.db_schema}".events').fetchall()
    return {row[0] for row in rows}


def _db_now(settings: Settings) -> datetime:
    with psycopg.connect(settings.pg_url) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def _publish_all(settings: Settings, total: int) -> None:
    """Run the real relay until it has published `total` events (and saved its checkpoint)."""

    async def work() -> None:
        from aiokafka import AIOKafkaProducer

        from eventstore.pool import connect, open_pool
        from eventstore.postgres import PostgresEventStore
        from eventstore.relay import producer_config

        pool = await open_pool(settings, min_size=1, max_size=2, wait=True)
        stop = asyncio.Event()
        relay = Relay(
            PostgresEventStore(pool),
            lambda: connect(settings),
            lambda: AIOKafkaProducer(**producer_config(settings.kafka_servers)),
            settings.events_topic,
        )
        task = asyncio.create_task(relay.run(stop))
        try:
            for _ in range(300):
                if relay.published >= total:
                    break
                await asyncio.sleep(0.1)
            assert relay.published >= total
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
            await pool.close()

    asyncio.run(work())


@pytest.fixture
def clusters(tmp_path: Path) -> Iterator[list[Cluster]]:
    made: list[Cluster] = []
    yield made
    for cluster in made:
        cluster.stop()


def _restored(tmp_path: Path, name: str) -> Cluster:
    return Cluster.fresh(tmp_path / name)


@dataclass
class History:
    folder: BackupFolder
    before: list[str]  # events committed before `moment`
    moment: datetime
    after: list[str]  # and after it, all published by the relay


def _backed_up_then_lost(origin: Cluster, live: Settings, folder: BackupFolder) -> History:
    """`vq backup run` on a cluster with a tenant; events before and after a moment; the relay
    publishes them all; then the disk is lost."""
    origin.start()
    migrate(live.pg_url, live.db_schema)
    tenant = str(uuid.uuid4())
    with psycopg.connect(live.pg_url, autocommit=True) as conn:
        conn.execute(
            f'INSERT INTO "{live.db_schema}".tenants (tenant_id, name) VALUES (%s, %s)',
            (tenant, "backup test"),
        )
    runner = subprocess.Popen(
        [sys.executable, "-m", "vq.cli", "backup", "run", "--to", str(folder.root)],
        env=origin.env(live),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert procs.wait_until(lambda: bool(folder.backups()), timeout=30), "no base backup"
        second = _cli(live, origin, "backup", "run", "--to", str(folder.root))
        assert second.returncode == 1 and "another `vq backup run`" in second.stderr
        writer = Writer(live, tenant)
        a, b, c = (str(uuid.uuid4()) for _ in range(3))
        before = writer.enqueue(a, 5) + writer.enqueue(b, 3)
        moment = _db_now(live)
        time.sleep(0.2)
        after = writer.enqueue(a, 4) + writer.enqueue(c, 2)
        last = _db_now(live)
        _publish_all(live, len(before) + len(after))
        # The receiver has the last append before the disk goes (it fsyncs as it receives).
        assert procs.wait_until(lambda: (last_commit(folder) or moment) >= last, timeout=10)
        origin.lose_disk()
    finally:
        runner.send_signal(signal.SIGTERM)
        output, _ = runner.communicate(timeout=30)
    assert "streaming WAL" in output and "base backup" in output, output
    return History(folder, before, moment, after)


def _restore(settings: Settings, into: Cluster, folder: BackupFolder, *more: str) -> Any:
    data = str(into.pgdata)
    return _cli(settings, into, "restore", "--from", str(folder.root), "--data", data, *more)


def test_backup_point_in_time_restore_reclaim_and_rebuild(
    settings: Settings, topics: list[str], tmp_path: Path, clusters: list[Cluster]
) -> None:
    origin = Cluster.fresh(tmp_path / "origin")
    clusters.append(origin)
    folder = BackupFolder(tmp_path / "backups")
    story = _backed_up_then_lost(origin, _on(origin, settings), folder)
    everything = set(story.before) | set(story.after)

    # Back to the moment: only what was committed before it, the relay's checkpoint cleared.
    r1 = _restored(tmp_path, "r1")
    clusters.append(r1)
    done = _restore(settings, r1, folder, "--to", story.moment.isoformat(), "--republish", "all")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "relay checkpoint cleared" in done.stdout
    r1.start()
    at_moment = _on(r1, settings)
    assert _event_ids(at_moment) == set(story.before)

    # Kafka has what the restore did not bring back: reclaimed, in order, under the same ids.
    dry = _cli(at_moment, r1, "backup", "reclaim", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"{len(story.after)} events in 2 queues are beyond the restored store" in dry.stdout
    assert _event_ids(at_moment) == set(story.before)
    done = _cli(at_moment, r1, "backup", "reclaim")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _event_ids(at_moment) == everything

    # The read models, rebuilt from the restored store, pass the check.
    done = _cli(at_moment, r1, "projections", "rebuild")
    assert done.returncode == 0, done.stdout + done.stderr
    done = _cli(at_moment, r1, "projections", "check")
    assert done.returncode == 0 and "0 differences" in done.stdout, done.stdout + done.stderr
    r1.stop()

    # The latest point: everything, with the relay's checkpoint as it was.
    r2 = _restored(tmp_path, "r2")
    clusters.append(r2)
    done = _restore(settings, r2, folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the relay publishes the" in done.stdout
    r2.start()
    assert _event_ids(_on(r2, settings)) == everything

    # The restored server is on a new timeline: its WAL does not go beside the old one's.
    for action in ("run", "base"):
        done = _cli(settings, r2, "backup", action, "--to", str(folder.root))
        assert done.returncode == 1, done.stdout + done.stderr
        assert "holds backups of timeline 1 and the server is on timeline 2" in done.stderr
        assert "back up into a new folder" in done.stderr
    assert folder.timelines() == [1]

    # Refusals: one line each, nothing overwritten, nothing left behind.
    done = _restore(settings, r2, folder)
    assert done.returncode == 1 and "exists and is not empty" in done.stderr
    r3 = _restored(tmp_path, "r3")
    early = folder.backups()[0].finished - timedelta(hours=1)
    done = _restore(settings, r3, folder, "--to", early.isoformat())
    assert done.returncode == 1 and "nothing to restore from" in done.stderr
    late = datetime.now(UTC) + timedelta(hours=1)
    done = _restore(settings, r3, folder, "--to", late.isoformat())
    assert done.returncode == 1 and "the backups end before the --to time" in done.stderr
    assert not r3.pgdata.exists()


def test_status_right_after_the_first_base_backup_ends_after_it_starts(
    settings: Settings, tmp_path: Path, clusters: list[Cluster]
) -> None:
    """The span `vq backup status` shows the moment the first base backup is there (on a
    database whose last commit came before it) starts before it ends."""
    origin = Cluster.fresh(tmp_path / "origin")
    clusters.append(origin)
    live = _on(origin, settings)
    origin.start()
    migrate(live.pg_url, live.db_schema)  # the last commits, all before the base backup
    folder = BackupFolder(tmp_path / "backups")
    runner = subprocess.Popen(
        [sys.executable, "-m", "vq.cli", "backup", "run", "--to", str(folder.root)],
        env=origin.env(live),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert procs.wait_until(lambda: bool(folder.backups()), timeout=60), "no base backup"
        shown = _cli(live, origin, "backup", "status", "--to", str(folder.root))
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.wait(timeout=30)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    span = re.search(r"^restorable: from (\S+) to (\S+)", shown.stdout, re.MULTILINE)
    assert span is not None, shown.stdout
    start, end = (datetime.fromisoformat(moment) for moment in span.groups())
    assert start <= end, shown.stdout
    assert end == folder.backups()[0].finished, shown.stdout


# -- pure parts ---------------------------------------------------------------------------------


def _record(folder: BackupFolder, name: str, timeline: int, start: str) -> None:
    directory = folder.base / name
    directory.mkdir()
    folder.record(
        directory,
        BaseBackup(
            name=name,
            started_at=f"{name[:4]}-{name[4:6]}-{name[6:8]}T00:00:00+00:00",
            finished_at=f"{name[:4]}-{name[4:6]}-{name[6:8]}T00:01:00+00:00",
            system_id="42",
            timeline=timeline,
            start_lsn=0,
            end_lsn=0,
            start_segment=start,
            bytes=1,
            pg_version="15",
        ),
    )


def test_a_folder_of_two_timelines_is_said_and_not_written_to(tmp_path: Path) -> None:
    """A folder that took a restored server's WAL beside the old one's (as `vq backup run` did
    before it refused to): `vq backup status` says which base backup restores which timeline,
    and neither timeline's server may back up into it any more."""
    folder = BackupFolder(tmp_path)
    folder.prepare("42", 1)
    _record(folder, "20261201T000000Z", 1, "000000010000000000000002")
    _record(folder, "20261202T000000Z", 2, "000000020000000000000009")
    for name in ("000000010000000000000009", "00000002.history", "00000002000000000000000A"):
        (folder.wal / name).write_bytes(b"")
    assert folder.timelines() == [1, 2]
    lines, healthy = describe(folder)
    assert healthy
    shown = "\n".join(lines)
    assert "WARNING: timelines 1, 2 in one folder" in shown, shown
    assert "timeline 1: base backups 20261201T000000Z: restores the moments before" in shown
    assert "timeline 2: base backups 20261202T000000Z: restores the restored server" in shown
    for timeline in (1, 2):
        with pytest.raises(StackError, match="back up into a new folder"):
            folder.prepare("42", timeline)


def test_wal_file_names_are_postgresql_s() -> None:
    assert pg.segment_name(1, pg.parse_lsn("0/2000028"), 16 * 1024**2) == "000000010000000000000002"
    assert (
        pg.segment_name(3, pg.parse_lsn("1/FF000000"), 16 * 1024**2) == "0000000300000001000000FF"
    )
    assert pg.segment_name(1, pg.parse_lsn("2/0"), 64 * 1024**2) == "000000010000000200000000"
    assert pg.parse_size("16MB") == 16 * 1024**2


def test_pruning_keeps_the_newest_backups_and_the_wal_they_need(tmp_path: Path) -> None:
    folder = BackupFolder(tmp_path)
    folder.prepare("42")
    for index, start in enumerate(("000000010000000000000002", "000000010000000000000009")):
        directory = folder.base / f"2026120{index}T000000Z"
        directory.mkdir()
        folder.record(
            directory,
            BaseBackup(
                name=directory.name,
                started_at=f"2026-12-0{index}T00:00:00+00:00",
                finished_at=f"2026-12-0{index}T00:01:00+00:00",
                system_id="42",
                timeline=1,
                start_lsn=0,
                end_lsn=0,
                start_segment=start,
                bytes=1,
                pg_version="15",
            ),
        )
    for name in (
        "000000010000000000000001",
        "000000010000000000000008",
        "000000010000000000000009",
        "00000001000000000000000A.partial",
        "00000002.history",
    ):
        (folder.wal / name).write_bytes(b"")
    assert folder.prune(1) == [
        "base backup 20261200T000000Z",
        "2 WAL files before 000000010000000000000009",
    ]
    assert [p.name for p in folder.wal_files()] == [
        "000000010000000000000009",
        "00000001000000000000000A.partial",
    ]
    assert (folder.wal / "00000002.history").exists()
    with pytest.raises(Exception, match="another cluster"):
        folder.prepare("43")


def _event(queue: str, version: int) -> RecordedEvent:
    now = datetime.now(UTC)
    created = CreateQueue(queue_id=queue, tenant_id="t", config=QueueConfig(name="Q"))
    return RecordedEvent(
        event_id=str(uuid.uuid4()),
        tenant_id="t",
        queue_id=queue,
        stream_version=version,
        event=decide(initial_state(queue), created, now)[0],
        occurred_at=now,
        command_id="c",
        correlation_id="c",
        actor="a",
    )


def test_reclaim_appends_only_what_follows_the_restored_version() -> None:
    found = Found()
    found.beyond = {
        "whole": {4: _event("whole", 4), 5: _event("whole", 5)},
        "gap": {7: _event("gap", 7), 9: _event("gap", 9)},
        "new": {1: _event("new", 1)},
    }
    made, refused = appends(found, {"whole": 3, "gap": 6})
    assert [(m.stream_id, m.expected_version, len(m.records)) for m in made] == [
        ("gap", 6, 1),
        ("new", 0, 1),
        ("whole", 3, 2),
    ]
    assert refused == ["queue gap: version 8 is in neither store; 1 later events not reclaimed"]
    found.conflicts.add("whole")
    made, refused = appends(found, {"whole": 3, "gap": 6})
    assert "whole" not in [m.stream_id for m in made]


def test_the_relay_checkpoint_name_is_the_relays() -> None:
    import inspect

    assert inspect.signature(Relay.__init__).parameters["name"].default == RELAY_CHECKPOINT
