"""Group commit (eventstore/group.py, migration 0016's vq_append_group) on PostgreSQL: the
appends of concurrent commands share a transaction, one that fails fails alone, and a queue's
commands keep their order."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

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
