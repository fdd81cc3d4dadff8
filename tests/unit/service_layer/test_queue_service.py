"""The queue service over the in-memory event store: commands in, outcomes out.

Given some commands, when one more is executed, then its outcome (and the events the store
holds) are as the rules say. No server: the store is the in-memory adapter that passes the same
contract as PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import service_layer.queues
from domain.commands import (
    CallNext,
    ChangeQueueSettings,
    CreateQueue,
    EnqueueTicket,
    OpenQueue,
    PauseQueue,
    StartService,
    TransferTicket,
)
from domain.config import BusyCounterPolicy, QueueConfig
from domain.errors import Rejected
from eventstore.errors import ConcurrencyError
from eventstore.memory import InMemoryAppendSession, InMemoryEventStore
from eventstore.values import CommandContext, IdempotencyRecord
from service_layer.errors import IdempotencyKeyReused, QueueBusy, VersionConflict
from service_layer.outcome import Outcome
from service_layer.queues import Command, CommandRequest, Idempotency, QueueService

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TENANT = "tenant-a"


class World:
    def __init__(self, store: InMemoryEventStore | None = None) -> None:
        self.store = store or InMemoryEventStore()
        self.now = T0
        self.service = QueueService(self.store, lambda: self.now)

    async def run(
        self,
        command: Command,
        *,
        queue_id: str | None = None,
        tenant_id: str = TENANT,
        key: str | None = None,
        body: bytes = b"",
        expected_version: int | None = None,
        queues: frozenset[str] | None = None,
        service: QueueService | None = None,  # another process on the same store
    ) -> Outcome:
        self.now += timedelta(seconds=1)
        command_id = str(uuid.uuid4())
        return await (service or self.service).execute(
            CommandRequest(
                tenant_id=tenant_id,
                queue_id=queue_id,
                command=command,
                context=CommandContext(
                    command_id=command_id,
                    correlation_id=command_id,
                    actor="test",
                    occurred_at=self.now,
                ),
                idempotency=None if key is None else Idempotency(key=key, request_hash=body),
                expected_version=expected_version,
                queues=queues,
            )
        )

    async def queue(
        self, name: str = "Desk", tenant_id: str = TENANT, policy: BusyCounterPolicy = "refuse"
    ) -> str:
        queue_id = str(uuid.uuid4())
        await self.run(
            CreateQueue(
                queue_id=queue_id,
                tenant_id=tenant_id,
                config=QueueConfig(name=name, counters=("1", "2"), busy_counter_policy=policy),
                status="open",
            ),
            queue_id=queue_id,
            tenant_id=tenant_id,
        )
        return queue_id

    async def enqueue(self, queue_id: str) -> str:
        ticket_id = str(uuid.uuid4())
        await self.run(EnqueueTicket(ticket_id=ticket_id), queue_id=queue_id)
        return ticket_id


@pytest.fixture
def world() -> World:
    return World()


async def test_an_outcome_names_what_the_command_appended_and_the_ticket_it_made(
    world: World,
) -> None:
    queue_id = await world.queue()
    first = await world.enqueue(queue_id)
    ticket_id = str(uuid.uuid4())
    outcome = await world.run(EnqueueTicket(ticket_id=ticket_id), queue_id=queue_id)
    stored = await world.store.read_stream(queue_id)
    assert outcome.versions == {queue_id: 3} and outcome.stream_version == 3
    assert list(outcome.event_ids) == [stored[-1].event_id]
    assert list(outcome.event_types) == ["TicketEnqueued"]
    assert outcome.ticket is not None and outcome.ticket.ticket_id == ticket_id
    assert (outcome.ticket.position, outcome.ticket.number) == (2, "A-002")
    called = await world.run(CallNext(counter="2"), queue_id=queue_id)
    assert called.ticket is not None and called.ticket.ticket_id == first
    assert (called.ticket.status, called.ticket.counter) == ("called", "2")


async def test_a_ticket_command_finds_the_queue_that_holds_the_ticket(world: World) -> None:
    queue_id = await world.queue()
    ticket_id = await world.enqueue(queue_id)
    await world.run(CallNext(counter="1"), queue_id=queue_id)
    started = await world.run(StartService(ticket_id=ticket_id))  # no queue named
    assert started.queue_id == queue_id and started.event_types == ["ServiceStarted"]
    with pytest.raises(Rejected, match="not found"):  # another tenant's ticket is nothing
        await world.run(StartService(ticket_id=ticket_id), tenant_id="tenant-b")


async def test_a_transfer_is_one_command_over_two_queues_and_answers_both_versions(
    world: World,
) -> None:
    source, target = await world.queue(), await world.queue("Cashier")
    await world.enqueue(target)
    ticket_id = await world.enqueue(source)
    moved = await world.run(TransferTicket(ticket_id=ticket_id, to_queue_id=target))
    assert moved.versions == {source: 3, target: 3}
    assert list(moved.versions) == [source, target]  # the command's own queue first
    assert moved.event_types == ["TicketTransferredOut"]
    assert len(moved.event_ids) == 2
    assert moved.ticket is not None and (moved.ticket.queue_id, moved.ticket.position) == (
        target,
        2,
    )
    assert await world.store.ticket_location(ticket_id) == (TENANT, target)
    with pytest.raises(Rejected, match="own queue"):
        await world.run(TransferTicket(ticket_id=ticket_id, to_queue_id=target))


async def test_a_retry_with_the_key_replays_the_outcome_and_changes_nothing(
    world: World,
) -> None:
    queue_id = await world.queue()
    ticket_id = str(uuid.uuid4())
    first = await world.run(
        EnqueueTicket(ticket_id=ticket_id), queue_id=queue_id, key="k", body=b"same"
    )
    again = await world.run(
        EnqueueTicket(ticket_id=str(uuid.uuid4())), queue_id=queue_id, key="k", body=b"same"
    )
    assert again.replayed and not first.replayed
    assert again.to_json() == first.to_json()
    assert again.records == ()
    assert (await world.store.stream_owner(queue_id)) == (TENANT, 2)
    with pytest.raises(IdempotencyKeyReused):
        await world.run(
            EnqueueTicket(ticket_id=str(uuid.uuid4())), queue_id=queue_id, key="k", body=b"other"
        )
    other_tenant = await world.queue(tenant_id="tenant-b")  # keys are per tenant
    assert not (
        await world.run(
            EnqueueTicket(ticket_id=str(uuid.uuid4())),
            queue_id=other_tenant,
            tenant_id="tenant-b",
            key="k",
        )
    ).replayed


async def test_a_retry_refused_on_the_queue_as_it_is_now_gets_the_first_answer(
    world: World,
) -> None:
    # Decided again, the retry of a call would be refused (nobody waits now), and of an
    # If-Match command too (the version moved on): both answer what the first run answered,
    # and append nothing.
    queue_id = await world.queue()
    await world.enqueue(queue_id)
    first = await world.run(CallNext(counter="1"), queue_id=queue_id, key="call", body=b"c")
    assert first.ticket is not None and not first.replayed
    again = await world.run(CallNext(counter="1"), queue_id=queue_id, key="call", body=b"c")
    assert again.replayed and again.to_json() == first.to_json()
    version = (await world.store.stream_owner(queue_id) or ("", 0))[1]
    paused = await world.run(
        PauseQueue(reason="lunch"), queue_id=queue_id, key="pause", expected_version=version
    )
    retried = await world.run(
        PauseQueue(reason="lunch"), queue_id=queue_id, key="pause", expected_version=version
    )
    assert retried.replayed and retried.to_json() == paused.to_json()
    assert (await world.store.stream_owner(queue_id)) == (TENANT, version + 1)
    with pytest.raises(Rejected):  # without a key, the same call is refused as it stands
        await world.run(CallNext(counter="1"), queue_id=queue_id)


class Counted(InMemoryEventStore):
    """The in-memory store, counting the stored outcomes looked up."""

    lookups = 0

    async def find_idempotency(self, tenant_id: str, key: str) -> IdempotencyRecord | None:
        self.lookups += 1
        return await super().find_idempotency(tenant_id, key)


async def test_a_first_request_with_a_key_looks_nothing_up_and_a_retry_of_a_no_op_replays(
    world: World,
) -> None:
    world.store = store = Counted()
    world.service = QueueService(store, lambda: world.now)
    queue_id = await world.queue()
    for n in range(3):  # the key is stored with the events: nothing to read first
        await world.run(EnqueueTicket(ticket_id=str(uuid.uuid4())), queue_id=queue_id, key=f"{n}")
    assert store.lookups == 0
    slower = (("mean_service_seconds", 300),)
    first = await world.run(ChangeQueueSettings(changes=slower), queue_id=queue_id, key="s")
    # Sent again, the change is no change now (nothing to append, so nothing stores the key):
    # the answer is still the first one, with the version it made.
    again = await world.run(ChangeQueueSettings(changes=slower), queue_id=queue_id, key="s")
    assert again.replayed and again.to_json() == first.to_json() and store.lookups == 1
    # A call-next retried while others still wait is not decided again: the first answer.
    await world.enqueue(queue_id)
    called = await world.run(CallNext(counter="1"), queue_id=queue_id, key="c")
    retried = await world.run(CallNext(counter="1"), queue_id=queue_id, key="c")
    assert retried.replayed and retried.to_json() == called.to_json()
    assert (await world.store.stream_owner(queue_id)) == (TENANT, first.stream_version + 2)


async def test_concurrent_retries_with_one_key_append_once(world: World) -> None:
    queue_id = await world.queue()
    outcomes = await asyncio.gather(
        *(
            world.run(EnqueueTicket(ticket_id=str(uuid.uuid4())), queue_id=queue_id, key="once")
            for _ in range(5)
        )
    )
    assert len({o.ticket.ticket_id for o in outcomes if o.ticket}) == 1
    assert sum(not o.replayed for o in outcomes) == 1
    assert (await world.store.stream_owner(queue_id)) == (TENANT, 2)


async def test_if_match_acts_only_on_the_version_named(world: World) -> None:
    queue_id = await world.queue()
    await world.enqueue(queue_id)
    with pytest.raises(VersionConflict, match="at version 2, not 1"):
        await world.run(OpenQueue(), queue_id=queue_id, expected_version=1)


async def test_two_counters_calling_at_once_never_get_the_same_ticket(world: World) -> None:
    # Each call closes its counter's previous visit first, so every one of them calls somebody.
    queue_id = await world.queue(policy="close_previous")
    for _ in range(10):
        await world.enqueue(queue_id)
    calls = await asyncio.gather(
        *(world.run(CallNext(counter=str(1 + n % 2)), queue_id=queue_id) for n in range(10))
    )
    called = [c.ticket.ticket_id for c in calls if c.ticket]
    assert len(called) == len(set(called)) == 10
    assert sorted(len(c.event_types) for c in calls) == [1, 1] + [2] * 8
    state = await world.service.load(TENANT, queue_id)
    assert sorted(state.at_counters) == ["1", "2"]
    assert all(len(ids) == 1 for ids in state.at_counters.values())


async def test_a_call_at_a_busy_counter_is_refused_and_appends_nothing(world: World) -> None:
    queue_id = await world.queue()
    first, second = await world.enqueue(queue_id), await world.enqueue(queue_id)
    await world.run(CallNext(counter="1"), queue_id=queue_id)
    before = await world.store.read_stream(queue_id, 0)

    with pytest.raises(Rejected) as refused:
        await world.run(CallNext(counter="1"), queue_id=queue_id)

    assert refused.value.code == "counter-busy"
    assert refused.value.facts["tickets"] == [
        {"ticket_id": first, "number": "A-001", "status": "called"}
    ]
    assert await world.store.read_stream(queue_id, 0) == before
    # The cached state is sound: the other counter calls the next person.
    outcome = await world.run(CallNext(counter="2"), queue_id=queue_id)
    assert outcome.ticket is not None and outcome.ticket.ticket_id == second


async def test_a_queue_held_too_long_sheds_load(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_layer.queues, "LOCK_WAIT_S", 0.05)
    queue_id = await world.queue()
    lock = world.service._lock(queue_id)
    await lock.acquire()
    try:
        with pytest.raises(QueueBusy):
            await world.enqueue(queue_id)
    finally:
        lock.release()
    await world.enqueue(queue_id)


async def test_ids_that_name_nothing_leave_nothing_behind(world: World) -> None:
    """A fuzzer sends random ids; none may cost memory after its 404."""
    for _ in range(50):
        with pytest.raises(Rejected):
            await world.run(OpenQueue(), queue_id=str(uuid.uuid4()))
    assert len(world.service._locks) == 0


async def test_a_replica_with_a_stale_cache_catches_up_and_decides_again(world: World) -> None:
    """Two processes over one store: the second appends behind the first's cached state; the
    first's next command reads what it missed under the stream's lock before deciding."""
    queue_id = await world.queue()
    first, second = await world.enqueue(queue_id), await world.enqueue(queue_id)
    replica = QueueService(world.store, lambda: world.now)  # world.service has the queue cached
    command_id = str(uuid.uuid4())
    by_replica = await replica.execute(
        CommandRequest(
            tenant_id=TENANT,
            queue_id=queue_id,
            command=CallNext(counter="1"),
            context=CommandContext(
                command_id=command_id,
                correlation_id=command_id,
                actor="r",
                occurred_at=world.now + timedelta(seconds=1),
            ),
        )
    )
    assert by_replica.ticket is not None and by_replica.ticket.ticket_id == first
    called = await world.run(CallNext(counter="2"), queue_id=queue_id)
    assert called.stream_version == 5
    assert called.ticket is not None and called.ticket.ticket_id == second


async def test_a_refusal_is_never_decided_on_a_stale_cache(world: World) -> None:
    """A process decides on the state it holds and appends in one step; when that decision is
    a refusal ("the line is empty"), it is decided again on the queue as it is: a replica that
    cached the empty queue calls the ticket another replica enqueued meanwhile."""
    queue_id = await world.queue()
    replica = World()
    replica.store, replica.now = world.store, world.now
    replica.service = QueueService(world.store, lambda: replica.now)
    with pytest.raises(Rejected):  # the replica holds the queue, empty
        await replica.run(CallNext(counter="1"), queue_id=queue_id)
    ticket_id = await world.enqueue(queue_id)  # behind the replica's back
    replica.now = world.now
    called = await replica.run(CallNext(counter="1"), queue_id=queue_id)
    assert called.ticket is not None and called.ticket.ticket_id == ticket_id
    assert called.stream_version == 3


async def test_an_append_on_a_stale_cache_fails_and_is_decided_again(world: World) -> None:
    """The one-step append names the version the decision was made on: behind another
    replica's append it fails, and the command is decided again on the queue as it is (the
    versions stay contiguous, nothing is lost)."""
    queue_id = await world.queue()
    replica = World()
    replica.store, replica.now = world.store, world.now
    replica.service = QueueService(world.store, lambda: replica.now)
    ours = await replica.enqueue(queue_id)  # the replica holds the queue at version 2
    theirs = await world.enqueue(queue_id)  # version 3, behind the replica's back
    replica.now = world.now
    late = await replica.enqueue(queue_id)
    events = await world.store.read_stream(queue_id)
    assert [e.stream_version for e in events] == [1, 2, 3, 4]
    assert [getattr(e.event, "ticket_id", None) for e in events[1:]] == [ours, theirs, late]


class Watched(InMemoryEventStore):
    """The in-memory store, counting snapshots loaded and failed appends."""

    snapshots = conflicts = 0

    async def load_snapshot(self, stream_id: str) -> Any:
        self.snapshots += 1
        return await super().load_snapshot(stream_id)

    async def append(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().append(*args, **kwargs)
        except ConcurrencyError:
            self.conflicts += 1
            raise


async def test_replicas_taking_turns_on_a_queue_catch_up_instead_of_failing_each_other() -> None:
    """Two replicas whose commands on one queue alternate (a load balancer's round robin): once
    an append of one failed behind the other's, it folds in the other's events before deciding,
    so it neither fails again nor rebuilds the queue from its snapshot every other command (as
    it did: 18 failed appends and 20 snapshots read); the queue is as one process makes it."""
    a, b = World(), World()
    b.store = a.store = store = Watched()
    a.service = QueueService(store, lambda: a.now, snapshot_every=5)
    b.service = QueueService(store, lambda: b.now, snapshot_every=5)
    queue_id = await a.queue()
    made = []
    for turn in range(20):
        replica = (a, b)[turn % 2]
        replica.now = max(a.now, b.now)
        made.append(await replica.enqueue(queue_id))
    # One failed append per replica (on the queue as it held it), then none: a snapshot read by
    # each for its first command there, and by each once after its failed append.
    assert (store.conflicts, store.snapshots) == (2, 4)
    events = await store.read_stream(queue_id)
    assert [e.stream_version for e in events] == list(range(1, 22))
    assert [getattr(e.event, "ticket_id", None) for e in events[1:]] == made
    state = await a.service.load(TENANT, queue_id)
    assert [t.number for t in state.tickets.values()] == [f"A-{n:03d}" for n in range(1, 21)]


async def test_the_states_held_are_bounded_by_their_tickets_and_commands_go_on_without_them() -> (
    None
):
    """Many big queues cannot fill the API's memory: the held states are weighed in tickets, the
    least recently used let go first, and a queue bigger than the whole cache is never held.
    Commands on queues let go are decided on what the store holds, as before."""
    world = World()
    world.service = QueueService(world.store, lambda: world.now, cache_tickets=30)
    held = world.service._states
    first, second = await world.queue("First"), await world.queue("Second")
    for _ in range(12):
        await world.enqueue(first)
        await world.enqueue(second)
    assert set(held) == {first, second} and held.currsize == 26
    third = await world.queue("Third")
    for _ in range(12):
        await world.enqueue(third)
    assert set(held) == {second, third}  # the first, least recently used, let go
    called = await world.run(CallNext(counter="1"), queue_id=first)  # decided from the store
    assert called.ticket is not None and called.ticket.number == "A-001"
    assert called.stream_version == 14 and first in held

    big = await world.queue("Big")
    for _ in range(30):
        await world.enqueue(big)
    assert big not in held and held.currsize <= 30
    outcome = await world.run(EnqueueTicket(ticket_id=str(uuid.uuid4())), queue_id=big)
    assert outcome.ticket is not None and outcome.ticket.position == 31
    assert outcome.stream_version == 32 and big not in held


class Unhurried(Counted):
    """Each append takes a moment, as a database's round trip does: requests overlap."""

    @asynccontextmanager
    async def session(self, stream_ids: Sequence[str]) -> AsyncIterator[InMemoryAppendSession]:
        await asyncio.sleep(0.01)
        async with super().session(stream_ids) as session:
            yield session


async def test_retries_under_way_at_once_wait_for_the_first_and_look_nothing_up(
    world: World,
) -> None:
    """Fifty at once (a kiosk's retries): one decided and appended, the others its answer,
    replayed, without a lookup each; another request under the same key is still refused."""
    world.store = store = Unhurried()
    world.service = QueueService(store, lambda: world.now)
    queue_id = await world.queue()

    def press(body: bytes = b"ticket") -> Any:
        return world.run(
            EnqueueTicket(ticket_id=str(uuid.uuid4())), queue_id=queue_id, key="k", body=body
        )

    outcomes = await asyncio.gather(*(press() for _ in range(50)))
    assert sum(not o.replayed for o in outcomes) == 1 and store.lookups == 0
    first = next(o for o in outcomes if not o.replayed)
    assert all(o.to_json() == first.to_json() for o in outcomes)
    assert (await world.store.stream_owner(queue_id)) == (TENANT, 2)
    # Another request with the key while a retry of the first is under way: refused.
    retried, other = await asyncio.gather(press(), press(b"another"), return_exceptions=True)
    assert isinstance(retried, Outcome) and retried.replayed, retried
    assert isinstance(other, IdempotencyKeyReused), other
    assert (await world.store.stream_owner(queue_id)) == (TENANT, 2)
