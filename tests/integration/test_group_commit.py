"""Group commit (eventstore/group.py, vq_append_group, migrations 0016 and 0020) on PostgreSQL: the
appends of concurrent commands share a transaction, one that fails fails alone, and a queue's
commands keep their order."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from bench.ceilings import sample_event
from domain.commands import CreateQueue, EnqueueTicket
from domain.config import QueueConfig
from domain.events import TicketEnqueued
from eventstore.append import append_document
from eventstore.errors import ConcurrencyError, EventStoreError, IdempotencyKeyTaken
from eventstore.postgres import PostgresEventStore
from eventstore.values import CommandContext, IdempotencyRecord, StreamAppend
from service_layer.queues import CommandRequest, QueueService

QUEUES = 4
PER_QUEUE = 30


def _append(stream: str, tenant_id: str, expected: int) -> StreamAppend:
    return StreamAppend(
        stream_id=stream,
        tenant_id=tenant_id,
        expected_version=expected,
        records=[sample_event(stream, expected + 1, tenant_id)],
    )


async def _created(store: PostgresEventStore, tenant_id: str, count: int) -> list[str]:
    streams = [str(uuid.uuid4()) for _ in range(count)]
    for stream in streams:
        await store.append([_append(stream, tenant_id, 0)])
    return streams


async def test_in_one_group_a_failed_append_fails_alone_and_the_others_commit(
    store: PostgresEventStore, tenant_id: str
) -> None:
    """One statement, five appends: a stream behind its expected version, a new stream that
    exists, an Idempotency-Key taken, an unknown tenant (a foreign key), and a good one: each
    fails as it would alone, and the good ones (first and last) are written."""
    good, stale, existing, taken, last = await _created(store, tenant_id, 5)
    record = IdempotencyRecord(key="k-" + uuid.uuid4().hex, request_hash=b"h", outcome={})
    await store.append([_append(taken, tenant_id, 1)], idempotency=record, tenant_id=tenant_id)
    documents = [
        append_document([_append(good, tenant_id, 1)], None, None, None),
        append_document([_append(stale, tenant_id, 5)], None, None, None),
        append_document([_append(existing, tenant_id, 0)], None, None, None),
        append_document([_append(taken, tenant_id, 2)], record, tenant_id, None),
        append_document([_append(str(uuid.uuid4()), str(uuid.uuid4()), 0)], None, None, None),
        append_document([_append(last, tenant_id, 1)], None, None, None),
    ]
    results = await store._append_group([d for d in documents if d is not None])
    assert results[0] is None and results[5] is None
    failed = [r for r in results[1:5] if r is not None]
    assert [r["code"] for r in failed] == ["23505", "23505", "23505", "23503"]
    assert failed[2]["constraint"] == "idempotency_keys_pkey"
    assert [len(await store.read_stream(s)) for s in (good, stale, existing, taken, last)] == [
        2,
        1,
        1,
        2,
        2,
    ]


async def test_concurrent_appends_share_groups_and_fail_alone(
    store: PostgresEventStore, tenant_id: str
) -> None:
    """Twenty appends at once through the store: fewer statements than appends, the stale one
    raises ConcurrencyError, the one with a taken key IdempotencyKeyTaken, a foreign-key
    refusal its own error, and every other one is written."""
    streams = await _created(store, tenant_id, 20)
    record = IdempotencyRecord(key="k-" + uuid.uuid4().hex, request_hash=b"h", outcome={})
    await store.append([_append(streams[3], tenant_id, 1)], idempotency=record, tenant_id=tenant_id)
    group = store._group
    assert group is not None
    before = group.groups

    async def one(index: int, stream: str) -> Any:
        if index == 1:
            return await store.append([_append(stream, tenant_id, 7)])
        if index == 3:
            return await store.append(
                [_append(stream, tenant_id, 2)], idempotency=record, tenant_id=tenant_id
            )
        if index == 5:
            return await store.append([_append(str(uuid.uuid4()), str(uuid.uuid4()), 0)])
        return await store.append([_append(stream, tenant_id, 1)])

    outcomes = await asyncio.gather(
        *(one(i, s) for i, s in enumerate(streams)), return_exceptions=True
    )
    assert isinstance(outcomes[1], ConcurrencyError)
    assert isinstance(outcomes[3], IdempotencyKeyTaken)
    assert isinstance(outcomes[5], EventStoreError)
    assert all(o is None for i, o in enumerate(outcomes) if i not in (1, 3, 5))
    assert group.groups - before < len(streams)  # they shared statements
    for index, stream in enumerate(streams):
        written = 1 if index in (1, 5) else 2
        assert len(await store.read_stream(stream)) == written, index


async def test_a_queues_commands_keep_their_order_in_groups(
    store: PostgresEventStore, tenant_id: str
) -> None:
    """Commands on four queues at once through the queue service: each queue's versions are
    1..n without a gap, each command's answer names the version its event has, and the events
    of a queue are in the order of its commands' turns (the answers' versions)."""
    service = QueueService(store, lambda: datetime.now(UTC))
    queues = [str(uuid.uuid4()) for _ in range(QUEUES)]

    def request(queue_id: str, command: Any) -> CommandRequest:
        command_id = str(uuid.uuid4())
        context = CommandContext(
            command_id=command_id,
            correlation_id=command_id,
            actor="test",
            occurred_at=datetime.now(UTC) - timedelta(seconds=1),
        )
        return CommandRequest(
            tenant_id=tenant_id, queue_id=queue_id, command=command, context=context
        )

    for queue_id in queues:
        config = QueueConfig(name="Gate", counters=("1",))
        create = CreateQueue(queue_id=queue_id, tenant_id=tenant_id, config=config, status="open")
        await service.execute(request(queue_id, create))
    made = {q: [str(uuid.uuid4()) for _ in range(PER_QUEUE)] for q in queues}
    group = store._group
    assert group is not None
    before = group.groups
    outcomes = await asyncio.gather(
        *(
            service.execute(request(q, EnqueueTicket(ticket_id=t)))
            for index in range(PER_QUEUE)
            for q in queues
            for t in made[q][index : index + 1]
        )
    )
    assert group.groups - before < len(outcomes)  # grouped
    for queue_id in queues:
        events = await store.read_stream(queue_id)
        assert [e.stream_version for e in events] == list(range(1, PER_QUEUE + 2))
        by_version = {
            o.versions[queue_id]: o.ticket.ticket_id
            for o in outcomes
            if queue_id in o.versions and o.ticket is not None
        }
        enqueued = [(e.stream_version, e.event) for e in events]
        assert [event.ticket_id for _, event in enqueued if isinstance(event, TicketEnqueued)] == [
            by_version[v] for v, event in enqueued if isinstance(event, TicketEnqueued)
        ]
        assert sorted(by_version.values()) == sorted(made[queue_id])


async def test_the_store_without_group_commit_appends_alone(pool: Any, tenant_id: str) -> None:
    """`group_commit=False`: one statement per append, the same answers."""
    store = PostgresEventStore(pool, group_commit=False)
    (stream,) = await _created(store, tenant_id, 1)
    with pytest.raises(ConcurrencyError):
        await store.append([_append(stream, tenant_id, 3)])
    await store.append([_append(stream, tenant_id, 1)])
    assert len(await store.read_stream(stream)) == 2


async def test_a_group_that_all_goes_through_is_written_whole_in_the_groups_order(
    store: PostgresEventStore, tenant_id: str, pool: Any
) -> None:
    """The set-based path (migration 0020): a new stream of two events, an existing one with an
    Idempotency-Key and a trace, a third: every row is written, the events in the group's order
    (append by append, event by event), the ticket index, the key and the trace with them."""
    old, other = await _created(store, tenant_id, 2)
    new = str(uuid.uuid4())
    two = _append(new, tenant_id, 0)
    records = [*two.records, sample_event(new, 2, tenant_id)]
    tickets = [r.event.ticket_id for r in records if isinstance(r.event, TicketEnqueued)]
    two = StreamAppend(
        stream_id=new, tenant_id=tenant_id, expected_version=0, records=records, tickets=tickets
    )
    record = IdempotencyRecord(key="k-" + uuid.uuid4().hex, request_hash=b"h", outcome={"a": 1})
    trace = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
    documents = [
        append_document([two], None, None, None),
        append_document([_append(old, tenant_id, 1)], record, tenant_id, trace),
        append_document([_append(other, tenant_id, 1)], None, None, None),
    ]
    assert await store._append_group([d for d in documents if d is not None]) == [None] * 3
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT stream_id::text, stream_version, transaction_id::text FROM events "
            "WHERE stream_id = ANY(%s::uuid[]) AND (stream_id = %s OR stream_version = 2) "
            "ORDER BY global_position",
            ([new, old, other], new),
        )
        rows = await cur.fetchall()
        assert [(s, v) for s, v, _ in rows] == [(new, 1), (new, 2), (old, 2), (other, 2)]
        assert len({xid for _, _, xid in rows}) == 1  # one transaction
        cur = await conn.execute(
            "SELECT count(*) FROM idempotency_keys WHERE idem_key = %s", (record.key,)
        )
        assert (await cur.fetchone())[0] == 1
        cur = await conn.execute(
            "SELECT traceparent FROM event_traces WHERE transaction_id = %s::text::xid8",
            (rows[0][2],),
        )
        assert [r[0] for r in await cur.fetchall()] == [trace]
        cur = await conn.execute(
            "SELECT count(*) FROM tickets WHERE ticket_id = ANY(%s::uuid[]) AND queue_id = %s",
            (tickets, new),
        )
        assert (await cur.fetchone())[0] == 2
        # The set-based statement alone refuses a group with a stale stream and writes nothing
        # of it (the group's statement then writes each append alone: the tests above).
        stale = append_document([_append(other, tenant_id, 1)], None, None, None)
        fresh = append_document([_append(old, tenant_id, 2)], None, None, None)
        with pytest.raises(psycopg.errors.UniqueViolation) as refused:
            await conn.execute("SELECT vq_append_all(%s::jsonb)", (f"[{fresh},{stale}]",))
        # By its count of the streams updated, before any event is written (not by a key).
        assert refused.value.diag.constraint_name == "streams_expected_version"
        assert len(await store.read_stream(old)) == 2
        # And it writes a group that goes through itself: the group's statement falls back
        # silently on any error, so the test above would pass with this path always failing.
        current = append_document([_append(other, tenant_id, 2)], None, None, None)
        await conn.execute("SELECT vq_append_all(%s::jsonb)", (f"[{fresh},{current}]",))
    assert [len(await store.read_stream(s)) for s in (old, other)] == [3, 3]


async def test_two_appends_of_one_stream_in_a_group_are_both_written_in_order(
    store: PostgresEventStore, tenant_id: str
) -> None:
    """A stream named twice in a group (its appends are in order) is written append by append."""
    (stream,) = await _created(store, tenant_id, 1)
    first, second = _append(stream, tenant_id, 1), _append(stream, tenant_id, 2)
    documents = [append_document([a], None, None, None) for a in (first, second)]
    assert await store._append_group([d for d in documents if d is not None]) == [None, None]
    events = await store.read_stream(stream)
    assert [e.event_id for e in events[1:]] == [
        first.records[0].event_id,
        second.records[0].event_id,
    ]


async def test_a_lone_append_is_refused_as_it_would_be_in_a_group(
    store: PostgresEventStore, tenant_id: str
) -> None:
    """A group of one goes straight to vq_append; its refusals are the group's: a stale
    version, a taken Idempotency-Key, an unknown tenant."""
    stale, taken = await _created(store, tenant_id, 2)
    record = IdempotencyRecord(key="k-" + uuid.uuid4().hex, request_hash=b"h", outcome={})
    await store.append([_append(taken, tenant_id, 1)], idempotency=record, tenant_id=tenant_id)
    alone = [
        append_document([_append(stale, tenant_id, 4)], None, None, None),
        append_document([_append(taken, tenant_id, 2)], record, tenant_id, None),
        append_document([_append(str(uuid.uuid4()), str(uuid.uuid4()), 0)], None, None, None),
    ]
    results = [(await store._append_group([d]))[0] for d in alone if d is not None]
    assert [(r or {}).get("code") for r in results] == ["23505", "23505", "23503"]
    assert [(r or {}).get("constraint") for r in results][:2] == [
        "streams_expected_version",
        "idempotency_keys_pkey",
    ]
    with pytest.raises(ConcurrencyError):
        await store.append([_append(stale, tenant_id, 4)])
    with pytest.raises(IdempotencyKeyTaken):
        await store.append([_append(taken, tenant_id, 2)], idempotency=record, tenant_id=tenant_id)
    assert [len(await store.read_stream(s)) for s in (stale, taken)] == [1, 2]
