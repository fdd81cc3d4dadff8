"""The projector without Kafka: its incremental writes equal a rebuild, key for key."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import redis.asyncio as aioredis

from core.settings import Settings
from domain.commands import CallNext, CreateQueue, EnqueueTicket, TransferTicket
from domain.config import QueueConfig
from eventstore.postgres import PostgresEventStore
from eventstore.values import CommandContext, Position
from projections import checkpoint
from projections import projector as projector_module
from projections.layout import Keys
from projections.projector import Projector
from projections.rebuild import check, delete_all, fold_store, rebuild
from projections.writer import ReadModelWriter
from service_layer.queues import CommandRequest, QueueService
from tests.contract.eventstore import append, created, enqueued
from tests.integration.test_read_side_scenario import _dump


async def test_a_ticket_transferred_away_and_back_keeps_its_home(
    settings: Settings, store: PostgresEventStore, tenant_id: str
) -> None:
    now = [datetime(2026, 11, 25, 9, 0, tzinfo=UTC)]
    service = QueueService(store, lambda: now[0])

    async def run(queue_id: str, command: Any, creating: bool = False) -> None:
        now[0] += timedelta(seconds=30)
        cid = str(uuid.uuid4())
        context = CommandContext(command_id=cid, correlation_id=cid, actor="t", occurred_at=now[0])
        await service.execute(
            CommandRequest(tenant_id=tenant_id, queue_id=queue_id, command=command, context=context)
        )

    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for queue_id, prefix in ((first, "A"), (second, "B")):
        await run(
            queue_id,
            CreateQueue(
                queue_id=queue_id,
                tenant_id=tenant_id,
                config=QueueConfig(name=prefix, prefix=prefix),
            ),
            creating=True,
        )
    ticket = str(uuid.uuid4())
    await run(first, EnqueueTicket(ticket_id=ticket))
    await run(first, TransferTicket(ticket_id=ticket, to_queue_id=second))
    await run(second, TransferTicket(ticket_id=ticket, to_queue_id=first))

    keys = Keys(settings.redis_prefix)
    client = aioredis.Redis.from_url(settings.redis_dsn)
    try:
        projector = Projector(store, ReadModelWriter(client, keys), keys, retention_s=86400)
        # Partitions are independent: the second queue may well be folded first.
        for queue_id in (second, first):
            await projector.project(await store.read_stream(queue_id))
        assert (await check(store, client, keys)).differences == []
        assert await client.get(keys.home(tenant_id, ticket)) == first.encode()
        incremental = await _dump(client, keys)
        await delete_all(client, keys)
        await rebuild(store, client, keys, retention_s=86400)
        assert await _dump(client, keys) == incremental
    finally:
        await client.aclose()


async def test_a_worker_resumes_a_queue_from_its_checkpoint_exactly(
    settings: Settings, store: PostgresEventStore, tenant_id: str, monkeypatch: Any
) -> None:
    """A fresh worker starts from the newest checkpoint at or below Redis's version and folds
    only what follows; the result, accuracy figures included, equals a fold from scratch. A
    checkpoint of other code is ignored."""
    monkeypatch.setattr(projector_module, "CHECKPOINT_EVERY", 20)
    now = [datetime(2026, 11, 25, 9, 0, tzinfo=UTC)]
    service = QueueService(store, lambda: now[0])
    queue_id = str(uuid.uuid4())

    async def run(command: Any, creating: bool = False) -> None:
        now[0] += timedelta(seconds=45)
        cid = str(uuid.uuid4())
        context = CommandContext(command_id=cid, correlation_id=cid, actor="t", occurred_at=now[0])
        await service.execute(
            CommandRequest(tenant_id=tenant_id, queue_id=queue_id, command=command, context=context)
        )

    async def traffic(rounds: int) -> None:
        for _ in range(rounds):
            ticket = str(uuid.uuid4())
            await run(EnqueueTicket(ticket_id=ticket))
            await run(EnqueueTicket(ticket_id=str(uuid.uuid4())))
            await run(CallNext(counter="1"))

    await run(
        CreateQueue(
            queue_id=queue_id,
            tenant_id=tenant_id,
            # One counter calling again and again: each call closes the previous visit first.
            config=QueueConfig(
                name="C", prefix="C", counters=("1",), busy_counter_policy="close_previous"
            ),
        ),
        creating=True,
    )
    await traffic(20)
    keys = Keys(settings.redis_prefix)
    client = aioredis.Redis.from_url(settings.redis_dsn)

    async def fold_new(projector: Projector) -> None:
        stored = int(await client.hget(keys.queue(tenant_id, queue_id), "version") or 0)
        records = await store.read_stream(queue_id, stored)
        for start in range(0, len(records), 7):  # batches, as Kafka hands them over
            await projector.project(records[start : start + 7])

    try:
        first = Projector(store, ReadModelWriter(client, keys), keys, retention_s=86400)
        await fold_new(first)
        saved = await store.load_projection_state(queue_id, 10**6, checkpoint.fingerprint())
        assert saved is not None and saved[0] >= 40

        await traffic(5)
        second = Projector(store, ReadModelWriter(client, keys), keys, retention_s=86400)
        await fold_new(second)
        assert second.restores == 1
        assert (await check(store, client, keys)).differences == []

        async with store.connection() as conn:
            await conn.execute("UPDATE projection_states SET fingerprint = 'older code'")
        await traffic(5)
        third = Projector(store, ReadModelWriter(client, keys), keys, retention_s=86400)
        await fold_new(third)
        assert third.restores == 0
        assert (await check(store, client, keys)).differences == []
        accuracy = json.loads(await client.get(keys.accuracy(tenant_id, queue_id)))
        # Created; 30 rounds of two joins and a call; every call but the first made a no-show.
        assert accuracy["version"] == 1 + 30 * 3 + 29
        served = next(f for f in accuracy["estimators"] if f["estimator"] == "served")
        assert served["called"] == 30
    finally:
        await client.aclose()


async def test_resync_after_a_redis_loss_brings_back_exactly_the_queues_behind(
    settings: Settings, store: PostgresEventStore, tenant_id: str, monkeypatch: Any
) -> None:
    """The check after a Redis restart reads the read models' versions a chunk per round trip
    (RESYNC_CHUNK, made small here so that the queues span several chunks), and folds forward
    only the queues Redis is behind on."""
    monkeypatch.setattr(projector_module, "RESYNC_CHUNK", 2)
    queues = await _queues_of_one_ticket(store, tenant_id, 5)
    keys = Keys(settings.redis_prefix)
    client = aioredis.Redis.from_url(settings.redis_dsn)
    try:
        writer = ReadModelWriter(client, keys)
        projector = Projector(store, writer, keys, retention_s=86400)
        for queue_id in queues:
            await projector.project(await store.read_stream(queue_id))
        ours = [s for s in await store.stream_versions() if s[0] in set(queues)]
        assert len(ours) == 5 and await projector.resync(ours) == 0
        # Redis "lost" two queues' read models (as a restart without their last writes would).
        lost = {queues[1], queues[4]}
        for queue_id in lost:
            await client.delete(keys.queue(tenant_id, queue_id), keys.line(tenant_id, queue_id))
        assert await projector.resync(ours) == 2
        versions = await writer.stored_versions([(tenant_id, q) for q in queues])
        assert versions == [2, 2, 2, 2, 2]
        assert (await check(store, client, keys)).differences == []
    finally:
        await client.aclose()


async def test_a_resync_lets_the_live_batches_in_between_two_queues(
    settings: Settings, store: PostgresEventStore, tenant_id: str
) -> None:
    """The worker's resync after a Redis restart takes the lock its live batches fold under for
    one queue at a time (streams/app.py): a batch that comes while it refolds the first queue
    behind goes next, before the second, instead of after every queue behind is refolded."""
    queues = await _queues_of_one_ticket(store, tenant_id, 3)
    keys = Keys(settings.redis_prefix)
    client = aioredis.Redis.from_url(settings.redis_dsn)
    turns: list[str] = []
    resyncing = asyncio.Event()

    class Turns(asyncio.Lock):
        async def __aenter__(self) -> None:
            await super().__aenter__()
            name = asyncio.current_task().get_name()  # type: ignore[union-attr]
            turns.append(name)
            resyncing.set()

    try:
        projector = Projector(store, ReadModelWriter(client, keys), keys, retention_s=86400)
        lock = Turns()
        ours = [s for s in await store.stream_versions() if s[0] in set(queues)]

        async def live_batch() -> None:
            await resyncing.wait()  # the resync folds its first queue under the lock
            async with lock:
                await projector.project(await store.read_stream(queues[0]))

        resync = asyncio.create_task(projector.resync(ours, lock), name="resync")
        live = asyncio.create_task(live_batch(), name="live")
        assert await resync == 3
        await live
        assert turns == ["resync", "live", "resync", "resync"]
        assert (await check(store, client, keys)).differences == []
    finally:
        await client.aclose()


async def _queues_of_one_ticket(store: PostgresEventStore, tenant_id: str, count: int) -> list[str]:
    """`count` new queues of one waiting ticket each (no read model yet)."""
    service = QueueService(store, lambda: datetime.now(UTC))
    queues = [str(uuid.uuid4()) for _ in range(count)]
    for queue_id in queues:
        for command in (
            CreateQueue(queue_id=queue_id, tenant_id=tenant_id, config=QueueConfig(name="R")),
            EnqueueTicket(ticket_id=str(uuid.uuid4())),
        ):
            cid = str(uuid.uuid4())
            context = CommandContext(
                command_id=cid, correlation_id=cid, actor="t", occurred_at=datetime.now(UTC)
            )
            await service.execute(
                CommandRequest(
                    tenant_id=tenant_id, queue_id=queue_id, command=command, context=context
                )
            )
    return queues


async def test_a_rebuild_waits_for_a_transaction_begun_before_it_and_misses_nothing(
    settings: Settings, store: PostgresEventStore, tenant_id: str
) -> None:
    """`read_all` stops below the oldest transaction still writing anywhere on the server (one of
    another schema here, as another tenant's or another test's would be). A rebuild that took an
    empty read for the end folded none of what committed after that transaction began: every
    queue's read model silently short (found in make test: an import, then a rebuild, then a
    check that disagreed). It waits for the transactions begun before it, then reads once more."""
    blocker = await psycopg.AsyncConnection.connect(settings.pg_url)
    try:
        await blocker.execute("SELECT pg_current_xact_id()")  # a writing transaction, left open
        queue = str(uuid.uuid4())
        await append(store, queue, tenant_id, 0, [created(queue, tenant_id)])
        await append(store, queue, tenant_id, 1, [enqueued(1)])
        assert await store.read_all(Position.start()) == []  # hidden for now
        fold = asyncio.create_task(fold_store(store))
        await asyncio.sleep(0.3)
        assert not fold.done()  # waiting for the open transaction
        await blocker.commit()
        folded = await asyncio.wait_for(fold, 10)
    finally:
        await blocker.close()
    assert folded[queue].state.version == 2 and len(folded[queue].state.waiting) == 1
