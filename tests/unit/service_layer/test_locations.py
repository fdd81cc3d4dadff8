"""A ticket command finds its ticket's queue without the ticket index when this process saw the
ticket last, and where it is now when another process moved it since.

Two queue services over one in-memory store (the adapter that passes PostgreSQL's contract)
stand for two API processes behind a load balancer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.commands import (
    CallNext,
    CancelTicket,
    CompleteService,
    CreateQueue,
    EnqueueTicket,
    StartService,
    TransferTicket,
)
from domain.config import QueueConfig
from domain.errors import Rejected
from eventstore.memory import InMemoryEventStore
from eventstore.values import CommandContext
from service_layer.errors import NotAssigned, VersionConflict
from service_layer.outcome import Outcome
from service_layer.queues import Command, CommandRequest, QueueService

TENANT = "tenant-a"


class Counted(InMemoryEventStore):
    """The in-memory store, counting the ticket index's lookups."""

    lookups = 0

    async def ticket_location(self, ticket_id: str) -> Any:
        self.lookups += 1
        return await super().ticket_location(ticket_id)


class Replicas:
    def __init__(self) -> None:
        self.store = Counted()
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
        self.a = QueueService(self.store, lambda: self.now)
        self.b = QueueService(self.store, lambda: self.now)

    async def run(
        self,
        service: QueueService,
        command: Command,
        queue_id: str | None = None,
        tenant_id: str = TENANT,
        expected_version: int | None = None,
        queues: frozenset[str] | None = None,
    ) -> Outcome:
        self.now += timedelta(seconds=1)
        command_id = str(uuid.uuid4())
        return await service.execute(
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
                expected_version=expected_version,
                queues=queues,
            )
        )

    async def queue(self) -> str:
        queue_id = str(uuid.uuid4())
        config = QueueConfig(name="Desk", counters=("1", "2"))
        create = CreateQueue(queue_id=queue_id, tenant_id=TENANT, config=config, status="open")
        await self.run(self.a, create, queue_id)
        return queue_id

    async def enqueue(self, service: QueueService, queue_id: str) -> str:
        ticket_id = str(uuid.uuid4())
        await self.run(service, EnqueueTicket(ticket_id=ticket_id), queue_id)
        return ticket_id


@pytest.fixture
def two() -> Replicas:
    return Replicas()


async def test_a_ticket_this_process_made_is_acted_on_without_a_lookup(two: Replicas) -> None:
    queue_id = await two.queue()
    ticket_id = await two.enqueue(two.a, queue_id)
    await two.run(two.a, CallNext(counter="1"), queue_id)
    started = await two.run(two.a, StartService(ticket_id=ticket_id))
    assert started.queue_id == queue_id and started.event_types == ["ServiceStarted"]
    assert two.store.lookups == 0
    completed = await two.run(two.b, CompleteService(ticket_id=ticket_id))  # the other process
    assert completed.event_types == ["TicketServed"]
    assert two.store.lookups == 1  # looked up once; known from then on
    # A refusal is checked against the index once more (the ticket may have moved meanwhile):
    # it is still there, so the refusal stands.
    with pytest.raises(Rejected, match="is served"):
        await two.run(two.b, StartService(ticket_id=ticket_id))
    assert two.store.lookups == 2


async def test_a_ticket_moved_by_another_process_is_acted_on_where_it_is_now(
    two: Replicas,
) -> None:
    source, target = await two.queue(), await two.queue()
    ticket_id = await two.enqueue(two.a, source)  # a saw it join the source
    await two.run(two.b, TransferTicket(ticket_id=ticket_id, to_queue_id=target))
    cancelled = await two.run(two.a, CancelTicket(ticket_id=ticket_id))
    assert cancelled.queue_id == target and cancelled.event_types == ["TicketCancelled"]
    assert [e.event_type for e in await two.store.read_stream(source)][-1] == "TicketTransferredOut"
    assert [e.event_type for e in await two.store.read_stream(target)][-1] == "TicketCancelled"


async def test_a_ticket_moved_back_is_found_by_a_process_that_saw_it_in_between(
    two: Replicas,
) -> None:
    first, second = await two.queue(), await two.queue()
    ticket_id = await two.enqueue(two.a, first)
    await two.run(two.b, TransferTicket(ticket_id=ticket_id, to_queue_id=second))
    await two.run(two.a, TransferTicket(ticket_id=ticket_id, to_queue_id=first))  # a: the second
    cancelled = await two.run(two.b, CancelTicket(ticket_id=ticket_id))  # b saw it in the second
    assert cancelled.queue_id == first


async def test_if_match_names_the_version_of_the_queue_the_ticket_is_in_now(
    two: Replicas,
) -> None:
    source, target = await two.queue(), await two.queue()
    ticket_id = await two.enqueue(two.a, source)
    moved = await two.run(two.b, TransferTicket(ticket_id=ticket_id, to_queue_id=target))
    version = moved.versions[target]
    cancelled = await two.run(two.a, CancelTicket(ticket_id=ticket_id), expected_version=version)
    assert cancelled.queue_id == target
    with pytest.raises(VersionConflict):  # the target has moved on since
        await two.run(two.a, CancelTicket(ticket_id=ticket_id), expected_version=version)


async def test_another_tenants_ticket_is_not_found_even_when_this_process_knows_it(
    two: Replicas,
) -> None:
    queue_id = await two.queue()
    ticket_id = await two.enqueue(two.a, queue_id)
    with pytest.raises(Rejected, match="not found"):
        await two.run(two.a, CancelTicket(ticket_id=ticket_id), tenant_id="tenant-b")
    with pytest.raises(Rejected, match="not found"):
        await two.run(two.a, CancelTicket(ticket_id=str(uuid.uuid4())))


async def test_staff_with_assignments_act_on_the_queue_that_holds_the_ticket_now(
    two: Replicas,
) -> None:
    """The assignment is checked on the queue the command acts on: the one that holds the
    ticket now, not where this process saw it last; and on a move's target too."""
    reception, xray, lab = await two.queue(), await two.queue(), await two.queue()
    ticket_id = await two.enqueue(two.a, reception)  # a saw it at the reception
    with pytest.raises(NotAssigned, match=reception):
        await two.run(two.a, CancelTicket(ticket_id=ticket_id), queues=frozenset({xray}))
    await two.run(two.b, TransferTicket(ticket_id=ticket_id, to_queue_id=xray))
    with pytest.raises(NotAssigned, match=lab):  # its target is not theirs
        await two.run(
            two.a, TransferTicket(ticket_id=ticket_id, to_queue_id=lab), queues=frozenset({xray})
        )
    with pytest.raises(NotAssigned, match=xray):  # where it is now is not theirs
        await two.run(two.a, CancelTicket(ticket_id=ticket_id), queues=frozenset({reception}))
    xray_events = len(await two.store.read_stream(xray))
    cancelled = await two.run(two.a, CancelTicket(ticket_id=ticket_id), queues=frozenset({xray}))
    assert cancelled.queue_id == xray
    assert len(await two.store.read_stream(xray)) == xray_events + 1  # the refusals wrote nothing
    assert len(await two.store.read_stream(lab)) == 1
