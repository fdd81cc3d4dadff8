"""The event store's contract: one suite, run against every adapter.

`tests/integration/test_eventstore.py` runs it on PostgreSQL and `tests/unit/eventstore/` on the
in-memory store (as pyeventsourcing runs one suite over every recorder). A subclass provides two
fixtures: `store` (an empty store) and `tenant_id` (a tenant the store accepts).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.config import QueueConfig
from domain.events import QueueCreated, QueueEvent, QueueReconfigured, TicketEnqueued
from eventstore.errors import ConcurrencyError, IdempotencyKeyTaken
from eventstore.port import EventStore
from eventstore.values import (
    CommandContext,
    IdempotencyRecord,
    Position,
    Snapshot,
    StreamAppend,
    new_records,
)
from service_layer.indexing import indexed

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def context(at: datetime = T0) -> CommandContext:
    command_id = str(uuid.uuid4())
    return CommandContext(
        command_id=command_id, correlation_id=command_id, actor="test", occurred_at=at
    )


def created(queue_id: str, tenant_id: str, aging: int | None = None) -> QueueCreated:
    return QueueCreated(
        queue_id=queue_id,
        tenant_id=tenant_id,
        config=QueueConfig(name="q", aging_after_seconds=aging),
        status="open",
        at=T0,
    )


def enqueued(n: int) -> TicketEnqueued:
    return TicketEnqueued(
        ticket_id=str(uuid.uuid4()),
        number=f"A-{n:03d}",
        daily_number=n,
        seq=n,
        priority="normal",
        service_type=None,
        channel="api",
        contact=None,
        at=T0,
    )


def batch(queue_id: str, tenant_id: str, expected: int, events: list[QueueEvent]) -> StreamAppend:
    """The append the service layer would make (side tables filled from the events)."""
    return indexed(
        new_records(
            stream_id=queue_id,
            tenant_id=tenant_id,
            expected_version=expected,
            events=events,
            context=context(),
        )
    )


async def append(
    store: EventStore,
    queue_id: str,
    tenant_id: str,
    expected: int,
    events: list[QueueEvent],
    **kwargs: Any,
) -> None:
    await store.append(
        [batch(queue_id, tenant_id, expected, events)], tenant_id=tenant_id, **kwargs
    )


class EventStoreContract:
    """What every event store adapter must do; each test uses fresh stream ids."""

    async def test_append_and_read_back_in_version_order(
        self, store: EventStore, tenant_id: str
    ) -> None:
        queue_id = str(uuid.uuid4())
        await append(store, queue_id, tenant_id, 0, [created(queue_id, tenant_id)])
        await append(store, queue_id, tenant_id, 1, [enqueued(1), enqueued(2)])
        events = await store.read_stream(queue_id)
        assert [e.stream_version for e in events] == [1, 2, 3]
        assert [e.event_type for e in events] == [
            "QueueCreated",
            "TicketEnqueued",
            "TicketEnqueued",
        ]
        assert isinstance(events[1].event, TicketEnqueued) and events[1].event.number == "A-001"
        assert [e.stream_version for e in await store.read_stream(queue_id, after_version=2)] == [3]
        assert [e.stream_version for e in await store.read_stream(queue_id, 0, 2)] == [1, 2]
        assert await store.stream_owner(queue_id) == (tenant_id, 3)
        location = await store.ticket_location(events[2].event.ticket_id)  # type: ignore[union-attr]
        assert location == (tenant_id, queue_id)
        assert all(e.global_position is not None for e in events)

    async def test_unknown_streams_and_tickets_are_nothing(self, store: EventStore) -> None:
        unknown = str(uuid.uuid4())
        assert await store.read_stream(unknown) == []
        assert await store.stream_owner(unknown) is None
        assert await store.ticket_location(unknown) is None
        assert await store.load_snapshot(unknown) is None

    async def test_stale_expected_version_is_a_conflict_and_changes_nothing(
        self, store: EventStore, tenant_id: str
    ) -> None:
        queue_id = str(uuid.uuid4())
        await append(store, queue_id, tenant_id, 0, [created(queue_id, tenant_id)])
        await append(store, queue_id, tenant_id, 1, [enqueued(1)])
        with pytest.raises(ConcurrencyError):
            await append(store, queue_id, tenant_id, 1, [enqueued(2)])
        with pytest.raises(ConcurrencyError):  # creating an existing stream
            await append(store, queue_id, tenant_id, 0, [created(queue_id, tenant_id)])
        assert len(await store.read_stream(queue_id)) == 2

    async def test_a_writer_ahead_of_the_stream_cannot_leave_a_hole(
        self, store: EventStore, tenant_id: str
    ) -> None:
        queue_id = str(uuid.uuid4())
        await append(store, queue_id, tenant_id, 0, [created(queue_id, tenant_id)])
        with pytest.raises(ConcurrencyError):
            await append(store, queue_id, tenant_id, 5, [enqueued(1)])
        assert [e.stream_version for e in await store.read_stream(queue_id)] == [1]
        assert await store.stream_owner(queue_id) == (tenant_id, 1)

    async def test_records_must_follow_the_expected_version(
        self, store: EventStore, tenant_id: str
    ) -> None:
        queue_id = str(uuid.uuid4())
        good = batch(queue_id, tenant_id, 0, [created(queue_id, tenant_id)])
        skewed = StreamAppend(
            stream_id=queue_id, tenant_id=tenant_id, expected_version=1, records=good.records
        )
        with pytest.raises(ValueError, match="without gaps"):
            await store.append([skewed], tenant_id=tenant_id)
        assert await store.stream_owner(queue_id) is None

    async def test_concurrent_appends_to_one_stream_never_share_a_version(
        self, store: EventStore, tenant_id: str
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

    async def test_a_session_appends_to_several_streams_all_or_nothing(
        self, store: EventStore, tenant_id: str
    ) -> None:
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        await append(store, first, tenant_id, 0, [created(first, tenant_id)])
        async with store.session([first, second]) as session:
            assert [e.stream_version for e in await session.read_stream(first, 0)] == [1]
            await session.append(
                [
                    batch(first, tenant_id, 1, [enqueued(1)]),
                    batch(second, tenant_id, 0, [created(second, tenant_id)]),
                ],
                tenant_id=tenant_id,
            )
        assert (await store.stream_owner(first), await store.stream_owner(second)) == (
            (tenant_id, 2),
            (tenant_id, 1),
        )
        with pytest.raises(ConcurrencyError):  # the second stream is stale: neither changes
            async with store.session([first, second]) as session:
                await session.append(
                    [
                        batch(first, tenant_id, 2, [enqueued(2)]),
                        batch(second, tenant_id, 0, [created(second, tenant_id)]),
                    ],
                    tenant_id=tenant_id,
                )
        with pytest.raises(RuntimeError):  # a session left by an exception keeps nothing
            async with store.session([first]) as session:
                await session.append(
                    [batch(first, tenant_id, 2, [enqueued(3)])], tenant_id=tenant_id
                )
                raise RuntimeError("the command failed after deciding")
        assert (await store.stream_owner(first), await store.stream_owner(second)) == (
            (tenant_id, 2),
            (tenant_id, 1),
        )

    async def test_idempotency_key_is_stored_with_the_events(
        self, store: EventStore, tenant_id: str
    ) -> None:
        queue_id = str(uuid.uuid4())
        record = IdempotencyRecord(
            key="k-1", request_hash=b"h", outcome={"queue_id": queue_id, "versions": {queue_id: 1}}
        )
        await append(
            store, queue_id, tenant_id, 0, [created(queue_id, tenant_id)], idempotency=record
        )
        found = await store.find_idempotency(tenant_id, "k-1")
        assert found == record
        assert await store.find_idempotency(str(uuid.uuid4()), "k-1") is None  # per tenant
        with pytest.raises(IdempotencyKeyTaken):
            await append(store, queue_id, tenant_id, 1, [enqueued(1)], idempotency=record)
        # The second append was rolled back whole: the key stopped it, not just itself.
        assert len(await store.read_stream(queue_id)) == 1

    async def test_the_global_order_holds_every_event_once_in_version_order(
        self, store: EventStore, tenant_id: str
    ) -> None:
        start = await _end_of_log(store)
        queues = [str(uuid.uuid4()) for _ in range(3)]
        for q in queues:
            await append(store, q, tenant_id, 0, [created(q, tenant_id)])
        for i in range(12):
            q = queues[i % 3]
            await append(store, q, tenant_id, 1 + i // 3, [enqueued(i)])
        seen: list[tuple[str, int]] = []
        position = start
        # The global order shows a transaction once every older one has ended: another test's
        # transaction still open on the same server (tests run in parallel) holds it back a while.
        deadline = asyncio.get_running_loop().time() + 15
        while len(seen) < 15 and asyncio.get_running_loop().time() < deadline:
            page = await store.read_all(position, limit=5)
            if not page:
                await asyncio.sleep(0.1)
                continue
            assert len(page) <= 5
            seen += [(r.queue_id, r.stream_version) for _, r in page]
            order = [(p.transaction_id, p.global_position) for p, _ in page]
            assert order == sorted(order)
            position = page[-1][0]
        assert len(seen) == 15 == len(set(seen))
        for q in queues:
            assert [v for queue, v in seen if queue == q] == [1, 2, 3, 4, 5]
        assert await store.read_all(position) == []

    async def test_the_aging_flag_follows_the_newest_configuration(
        self, store: EventStore, tenant_id: str
    ) -> None:
        ages, still = str(uuid.uuid4()), str(uuid.uuid4())
        await append(store, ages, tenant_id, 0, [created(ages, tenant_id, aging=600)])
        await append(store, still, tenant_id, 0, [created(still, tenant_id)])
        assert (ages, tenant_id) in await store.aging_streams()
        assert (still, tenant_id) not in await store.aging_streams()
        await append(
            store, ages, tenant_id, 1, [QueueReconfigured(config=QueueConfig(name="q"), at=T0)]
        )
        assert (ages, tenant_id) not in await store.aging_streams()

    async def test_snapshot_keeps_only_the_newest(self, store: EventStore) -> None:
        stream = str(uuid.uuid4())
        await store.save_snapshot(
            Snapshot(stream_id=stream, version=500, snapshot_schema=1, state={"v": 500})
        )
        await store.save_snapshot(
            Snapshot(stream_id=stream, version=400, snapshot_schema=1, state={"v": 400})
        )
        loaded = await store.load_snapshot(stream)
        assert loaded is not None and loaded.version == 500 and loaded.state == {"v": 500}
        older = await store.load_snapshot(stream, at_most_version=450)
        assert older is not None and older.version == 400
        for version in range(600, 1200, 100):
            await store.save_snapshot(
                Snapshot(stream_id=stream, version=version, snapshot_schema=1, state={"v": version})
            )
        assert await store.load_snapshot(stream, at_most_version=650) is None  # 5 kept

    async def test_a_projection_state_is_the_newest_of_this_code(self, store: EventStore) -> None:
        stream = str(uuid.uuid4())
        await store.save_projection_state(stream, 2000, "code-a", b"at 2000")
        await store.save_projection_state(stream, 1000, "code-a", b"older")  # ignored
        assert await store.load_projection_state(stream, 5000, "code-a") == (2000, b"at 2000")
        assert await store.load_projection_state(stream, 1999, "code-a") is None
        assert await store.load_projection_state(stream, 5000, "code-b") is None
        await store.save_projection_state(stream, 1000, "code-b", b"new code")  # replaces
        assert await store.load_projection_state(stream, 5000, "code-b") == (1000, b"new code")

    async def test_checkpoints_start_at_the_beginning_and_keep_the_newest(
        self, store: EventStore
    ) -> None:
        name = f"reader-{uuid.uuid4()}"
        assert await store.load_checkpoint(name) == Position.start()
        await store.save_checkpoint(name, Position(7, 42))
        await store.save_checkpoint(name, Position(9, 50))
        assert await store.load_checkpoint(name) == Position(9, 50)

    async def test_it_answers_a_ping(self, store: EventStore) -> None:
        await store.ping()


async def _end_of_log(store: EventStore) -> Position:
    """Where the global order ends now (the PostgreSQL store is shared by a test's streams)."""
    position = Position.start()
    while page := await store.read_all(position):
        position = page[-1][0]
    return position
