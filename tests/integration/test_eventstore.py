"""The PostgreSQL event store against a real server: versions, global order, idempotency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from domain.config import QueueConfig
from domain.events import QueueCreated, QueueEvent, TicketEnqueued
from eventstore.errors import ConcurrencyError, IdempotencyKeyTaken
from eventstore.migrate import migrate
from eventstore.serialization import to_json
from eventstore.store import (
    CommandContext,
    EventStore,
    IdempotencyRecord,
    Position,
    Snapshot,
    new_records,
)
from vq.settings import Settings

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def context(at: datetime = T0) -> CommandContext:
    command_id = str(uuid.uuid4())
    return CommandContext(command_id=command_id, correlation_id=command_id, actor="test",
                          occurred_at=at)


def created(queue_id: str, tenant_id: str) -> QueueCreated:
    return QueueCreated(queue_id=queue_id, tenant_id=tenant_id, config=QueueConfig(name="q"),
                        status="open", at=T0)


def enqueued(n: int) -> TicketEnqueued:
    return TicketEnqueued(
        ticket_id=str(uuid.uuid4()), number=f"A-{n:03d}", daily_number=n, seq=n,
        priority="normal", service_type=None, channel="api", contact=None, at=T0,
    )


async def append(store: EventStore, queue_id: str, tenant_id: str, expected: int,
                 events: list[QueueEvent], **kwargs: Any) -> None:
    batch = new_records(stream_id=queue_id, tenant_id=tenant_id, expected_version=expected,
                        events=events, context=context())
    await store.append([batch], tenant_id=tenant_id, **kwargs)


async def test_append_and_read_back_in_version_order(store: EventStore, tenant_id: str) -> None:
    queue_id = str(uuid.uuid4())
    await append(store, queue_id, tenant_id, 0, [created(queue_id, tenant_id)])
    await append(store, queue_id, tenant_id, 1, [enqueued(1), enqueued(2)])
    events = await store.read_stream(queue_id)
    assert [e.stream_version for e in events] == [1, 2, 3]
    assert [e.event_type for e in events] == ["QueueCreated", "TicketEnqueued", "TicketEnqueued"]
    assert isinstance(events[1].event, TicketEnqueued) and events[1].event.number == "A-001"
    assert [e.stream_version for e in await store.read_stream(queue_id, after_version=2)] == [3]
    assert await store.stream_owner(queue_id) == (tenant_id, 3)
    location = await store.ticket_location(events[2].event.ticket_id)  # type: ignore[union-attr]
    assert location == (tenant_id, queue_id)


async def test_stale_expected_version_is_a_conflict_and_changes_nothing(
    store: EventStore, tenant_id: str
) -> None:
    queue_id = str(uuid.uuid4())
    await append(store, queue_id, tenant_id, 0, [created(queue_id, tenant_id)])
    await append(store, queue_id, tenant_id, 1, [enqueued(1)])
    with pytest.raises(ConcurrencyError):
        await append(store, queue_id, tenant_id, 1, [enqueued(2)])
    with pytest.raises(ConcurrencyError):  # creating an existing stream
        await append(store, queue_id, tenant_id, 0, [created(queue_id, tenant_id)])
    assert len(await store.read_stream(queue_id)) == 2


async def test_concurrent_appends_to_one_stream_never_share_a_version(
    store: EventStore, tenant_id: str
) -> None:
    queue_id = str(uuid.uuid4())
    await append(store, queue_id, tenant_id, 0, [created(queue_id, tenant_id)])

    async def racer(n: int) -> bool:
        try:
            await append(store, queue_id, tenant_id, 1, [enqueued(n)])
            return True
        except ConcurrencyError:
            return False

    wins = await asyncio.gather(*(racer(n) for n in range(10)))
    assert sum(wins) == 1
    assert [e.stream_version for e in await store.read_stream(queue_id)] == [1, 2]


async def test_idempotency_key_is_stored_with_the_events(store: EventStore, tenant_id: str) -> None:
    queue_id = str(uuid.uuid4())
    record = IdempotencyRecord(key="k-1", request_hash=b"h", status_code=201,
                               response={"queue_id": queue_id})
    await append(store, queue_id, tenant_id, 0, [created(queue_id, tenant_id)], idempotency=record)
    found = await store.find_idempotency(tenant_id, "k-1")
    assert found is not None and found.response == {"queue_id": queue_id}
    with pytest.raises(IdempotencyKeyTaken):
        await append(store, queue_id, tenant_id, 1, [enqueued(1)], idempotency=record)
    # The second append was rolled back whole: the key stopped it, not just itself.
    assert len(await store.read_stream(queue_id)) == 1


async def test_snapshot_keeps_only_the_newest(store: EventStore) -> None:
    stream = str(uuid.uuid4())
    await store.save_snapshot(Snapshot(stream_id=stream, version=500, snapshot_schema=1,
                                       state={"v": 500}))
    await store.save_snapshot(Snapshot(stream_id=stream, version=400, snapshot_schema=1,
                                       state={"v": 400}))
    loaded = await store.load_snapshot(stream)
    assert loaded is not None and loaded.version == 500 and loaded.state == {"v": 500}


async def test_global_reader_never_skips_an_event_that_commits_late(
    settings: Settings, store: EventStore, tenant_id: str
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
            await slow.execute("INSERT INTO streams (stream_id, tenant_id, version) "
                               "VALUES (%s, %s, 1)", (slow_queue, tenant_id))
            await slow.execute(
                "INSERT INTO events (stream_id, stream_version, event_id, tenant_id, event_type, "
                "schema_version, occurred_at, command_id, correlation_id, actor, payload) "
                "VALUES (%s, 1, %s, %s, 'QueueCreated', 1, %s, %s, %s, 'slow', %s)",
                (slow_queue, str(uuid.uuid4()), tenant_id, T0, str(uuid.uuid4()),
                 str(uuid.uuid4()), to_json(slow_event)),
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
    settings: Settings, store: EventStore, tenant_id: str
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
            (queue_id, str(uuid.uuid4()), tenant_id, T0 + timedelta(seconds=1),
             str(uuid.uuid4()), str(uuid.uuid4()), v1_payload),
        )
    old = (await store.read_stream(queue_id, after_version=1))[0]
    assert isinstance(old.event, TicketEnqueued)
    assert old.event.language is None and old.schema_version == 2


async def test_a_writer_ahead_of_the_stream_cannot_leave_a_hole(
    store: EventStore, tenant_id: str
) -> None:
    queue_id = str(uuid.uuid4())
    await append(store, queue_id, tenant_id, 0, [created(queue_id, tenant_id)])
    with pytest.raises(ConcurrencyError):
        await append(store, queue_id, tenant_id, 5, [enqueued(1)])
    assert [e.stream_version for e in await store.read_stream(queue_id)] == [1]
    assert await store.stream_owner(queue_id) == (tenant_id, 1)


async def test_global_order_sorts_transaction_ids_as_numbers_not_text(store: EventStore) -> None:
    """As text, '1000000' < '999999': a reader sorting so would skip older events for good once
    transaction ids gain a digit. The query must walk the (transaction_id, position) index."""
    from eventstore.store import READ_ALL_SQL

    async with store.connection() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        cur = await conn.execute(b"EXPLAIN " + READ_ALL_SQL.encode(), ("0", 0, 10))
        plan = "\n".join(row[0] for row in await cur.fetchall())
    assert "(transaction_id)::text" not in plan, plan
    assert "events_commit_order" in plan, plan
