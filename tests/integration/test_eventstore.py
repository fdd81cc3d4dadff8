"""The PostgreSQL event store against a real server: the event store contract (versions,
conflicts, idempotency, global order, side tables), and what only PostgreSQL can get wrong."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import psycopg
import pytest

from core.settings import Settings
from domain.events import TicketEnqueued
from eventstore import pool as pool_module
from eventstore.migrate import migrate
from eventstore.postgres import READ_ALL_SQL, PostgresEventStore
from eventstore.serialization import to_json
from eventstore.values import Position
from tests.contract.eventstore import T0, EventStoreContract, append, created, enqueued


class TestPostgresEventStore(EventStoreContract):
    """The contract, on the test's own PostgreSQL schema (fixtures `store`, `tenant_id`)."""


async def test_global_reader_never_skips_an_event_that_commits_late(
    settings: Settings, store: PostgresEventStore, tenant_id: str
) -> None:
    """A slow transaction takes an earlier position but commits after later ones.

    A reader that followed `global_position > last` would pass it for good. Ours must wait for it
    and then deliver it, and must deliver every event exactly once, per stream in version order.
    """
    queues = [str(uuid.uuid4()) for _ in range(4)]
    for q in queues:
        await append(store, q, tenant_id, 0, [created(q, tenant_id)])

    slow_queue = str(uuid.uuid4())
    slow = await psycopg.AsyncConnection.connect(
        settings.pg_url, options=f"-c search_path={settings.db_schema}"
    )
    slow_event = created(slow_queue, tenant_id)
    slow_started = asyncio.Event()
    release_slow = asyncio.Event()

    async def slow_writer() -> None:
        async with slow.transaction():
            await slow.execute(
                "INSERT INTO streams (stream_id, tenant_id, version) VALUES (%s, %s, 1)",
                (slow_queue, tenant_id),
            )
            await slow.execute(
                "INSERT INTO events (stream_id, stream_version, event_id, tenant_id, event_type, "
                "schema_version, occurred_at, command_id, correlation_id, actor, payload) "
                "VALUES (%s, 1, %s, %s, 'QueueCreated', 1, %s, %s, %s, 'slow', %s)",
                (
                    slow_queue,
                    str(uuid.uuid4()),
                    tenant_id,
                    T0,
                    str(uuid.uuid4()),
                    str(uuid.uuid4()),
                    to_json(slow_event),
                ),
            )
            slow_started.set()
            await release_slow.wait()

    async def fast_writers() -> None:
        await slow_started.wait()
        versions = dict.fromkeys(queues, 1)
        for i in range(40):
            q = queues[i % len(queues)]
            await append(store, q, tenant_id, versions[q], [enqueued(i)])
            versions[q] += 1

    seen: list[tuple[str, int]] = []
    position = Position.start()

    async def reader(until: int) -> None:
        nonlocal position
        while len(seen) < until:
            for pos, recorded in await store.read_all(position, limit=7):
                seen.append((recorded.queue_id, recorded.stream_version))
                position = pos
            await asyncio.sleep(0.005)

    slow_task = asyncio.create_task(slow_writer())
    await fast_writers()
    # While the slow transaction is open, the reader must not move past it: it sees only the
    # four QueueCreated events that committed before the slow one began.
    await asyncio.wait_for(reader(4), timeout=5)
    await asyncio.sleep(0.1)
    for pos, recorded in await store.read_all(position):
        seen.append((recorded.queue_id, recorded.stream_version))
        position = pos
    assert len(seen) == 4
    release_slow.set()
    await slow_task
    await slow.close()
    total = 4 + 40 + 1
    await asyncio.wait_for(reader(total), timeout=5)
    assert len(seen) == total == len(set(seen))
    assert (slow_queue, 1) in seen
    for q in queues:
        versions = [v for queue, v in seen if queue == q]
        assert versions == sorted(versions) == list(range(1, len(versions) + 1))


def test_migrations_are_applied_once(settings: Settings) -> None:
    assert migrate(settings.pg_url, settings.db_schema) == []


async def test_old_event_versions_are_upcast_on_read(
    settings: Settings, store: PostgresEventStore, tenant_id: str
) -> None:
    """A TicketEnqueued stored at schema version 1 (no `language`) reads as the current type."""
    queue_id = str(uuid.uuid4())
    await append(store, queue_id, tenant_id, 0, [created(queue_id, tenant_id)])
    v1_payload = to_json(enqueued(1)).replace(',"language":null', "")
    assert "language" not in v1_payload
    async with store.connection() as conn, conn.transaction():
        await conn.execute("UPDATE streams SET version = 2 WHERE stream_id = %s", (queue_id,))
        await conn.execute(
            "INSERT INTO events (stream_id, stream_version, event_id, tenant_id, event_type, "
            "schema_version, occurred_at, command_id, correlation_id, actor, payload) "
            "VALUES (%s, 2, %s, %s, 'TicketEnqueued', 1, %s, %s, %s, 'old', %s)",
            (
                queue_id,
                str(uuid.uuid4()),
                tenant_id,
                T0 + timedelta(seconds=1),
                str(uuid.uuid4()),
                str(uuid.uuid4()),
                v1_payload,
            ),
        )
    old = (await store.read_stream(queue_id, after_version=1))[0]
    assert isinstance(old.event, TicketEnqueued)
    assert old.event.language is None and old.schema_version == TicketEnqueued.VERSION


async def test_global_order_sorts_transaction_ids_as_numbers_not_text(
    store: PostgresEventStore,
) -> None:
    """As text, '1000000' < '999999': a reader sorting so would skip older events for good once
    transaction ids gain a digit. The query must walk the (transaction_id, position) index."""
    async with store.connection() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        cur = await conn.execute(b"EXPLAIN " + READ_ALL_SQL.encode(), ("0", 0, 10))
        plan = "\n".join(row[0] for row in await cur.fetchall())
    assert "(transaction_id)::text" not in plan, plan
    assert "events_commit_order" in plan, plan


async def test_a_transaction_left_idle_is_ended_by_the_server_and_its_locks_freed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller that stops between two statements (a task left suspended, a frozen process)
    does not hold its locks (a queue's turn, the audit chain) for as long as its connection
    lives: the server ends its session (eventstore/pool.py IDLE_IN_TRANSACTION_MS)."""
    monkeypatch.setattr(pool_module, "IDLE_IN_TRANSACTION_MS", 300)
    lock = "SELECT pg_try_advisory_xact_lock(hashtextextended('idle-test', 0))"
    stuck, other = await pool_module.connect(settings), await pool_module.connect(settings)
    try:
        with pytest.raises(psycopg.Error):
            async with stuck.transaction():
                assert await (await stuck.execute(lock)).fetchone() == (True,)
                await asyncio.sleep(1.0)  # stopped between two statements
                await stuck.execute("SELECT 1")
        assert await (await other.execute(lock)).fetchone() == (True,)
    finally:
        await stuck.close()
        await other.close()
