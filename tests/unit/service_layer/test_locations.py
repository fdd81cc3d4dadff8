"""A ticket command finds its ticket's queue without the ticket index when this process saw the
ticket last, and where it is now when another process moved it since.

Two queue services over one in-memory store (the adapter that passes PostgreSQL's contract)
stand for two API processes behind a load balancer.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from domain.commands import (
    CallNext,
    CancelTicket,
    CompleteService,
    StartService,
    TransferTicket,
)
from domain.errors import Rejected
from eventstore.memory import InMemoryEventStore
from service_layer.errors import NotAssigned, VersionConflict
from service_layer.queues import QueueService
from tests.unit.service_layer.test_queue_service import World


class Counted(InMemoryEventStore):
    """The in-memory store, counting the ticket index's lookups."""

    lookups = 0

    async def ticket_location(self, ticket_id: str) -> Any:
        self.lookups += 1
        return await super().ticket_location(ticket_id)


class Replicas(World):
    """Two queue services (two API processes) over one store counting its index lookups: `a`
    made the queues and the tickets (World's own service), `b` is the other."""

    def __init__(self) -> None:
        self.counted = Counted()
        super().__init__(self.counted)
        self.a = self.service
        self.b = QueueService(self.store, lambda: self.now)


@pytest.fixture
def two() -> Replicas:
    return Replicas()


async def test_a_ticket_this_process_made_is_acted_on_without_a_lookup(two: Replicas) -> None:
    queue_id = await two.queue()
    ticket_id = await two.enqueue(queue_id)
    await two.run(CallNext(counter="1"), queue_id=queue_id, service=two.a)
    started = await two.run(StartService(ticket_id=ticket_id), service=two.a)
    assert started.queue_id == queue_id and started.event_types == ["ServiceStarted"]
    assert two.counted.lookups == 0
    completed = await two.run(CompleteService(ticket_id=ticket_id), service=two.b)  # the other
    assert completed.event_types == ["TicketServed"]
    assert two.counted.lookups == 1  # looked up once; known from then on
    # A refusal is checked against the index once more (the ticket may have moved meanwhile):
    # it is still there, so the refusal stands.
    with pytest.raises(Rejected, match="is served"):
        await two.run(StartService(ticket_id=ticket_id), service=two.b)
    assert two.counted.lookups == 2


async def test_a_ticket_moved_by_another_process_is_acted_on_where_it_is_now(
    two: Replicas,
) -> None:
    source, target = await two.queue(), await two.queue()
    ticket_id = await two.enqueue(source)  # a saw it join the source
    await two.run(TransferTicket(ticket_id=ticket_id, to_queue_id=target), service=two.b)
    cancelled = await two.run(CancelTicket(ticket_id=ticket_id), service=two.a)
    assert cancelled.queue_id == target and cancelled.event_types == ["TicketCancelled"]
    assert [e.event_type for e in await two.store.read_stream(source)][-1] == "TicketTransferredOut"
    assert [e.event_type for e in await two.store.read_stream(target)][-1] == "TicketCancelled"


async def test_a_ticket_moved_back_is_found_by_a_process_that_saw_it_in_between(
    two: Replicas,
) -> None:
    first, second = await two.queue(), await two.queue()
    ticket_id = await two.enqueue(first)
    await two.run(TransferTicket(ticket_id=ticket_id, to_queue_id=second), service=two.b)
    await two.run(
        TransferTicket(ticket_id=ticket_id, to_queue_id=first), service=two.a
    )  # from the second
    cancelled = await two.run(CancelTicket(ticket_id=ticket_id), service=two.b)  # b: the second
    assert cancelled.queue_id == first


async def test_if_match_names_the_version_of_the_queue_the_ticket_is_in_now(
    two: Replicas,
) -> None:
    source, target = await two.queue(), await two.queue()
    ticket_id = await two.enqueue(source)
    moved = await two.run(TransferTicket(ticket_id=ticket_id, to_queue_id=target), service=two.b)
    version = moved.versions[target]
    cancelled = await two.run(
        CancelTicket(ticket_id=ticket_id), expected_version=version, service=two.a
    )
    assert cancelled.queue_id == target
    with pytest.raises(VersionConflict):  # the target has moved on since
        await two.run(CancelTicket(ticket_id=ticket_id), expected_version=version, service=two.a)


async def test_another_tenants_ticket_is_not_found_even_when_this_process_knows_it(
    two: Replicas,
) -> None:
    queue_id = await two.queue()
    ticket_id = await two.enqueue(queue_id)
    with pytest.raises(Rejected, match="not found"):
        await two.run(CancelTicket(ticket_id=ticket_id), tenant_id="tenant-b", service=two.a)
    with pytest.raises(Rejected, match="not found"):
        await two.run(CancelTicket(ticket_id=str(uuid.uuid4())), service=two.a)


async def test_staff_with_assignments_act_on_the_queue_that_holds_the_ticket_now(
    two: Replicas,
) -> None:
    """The assignment is checked on the queue the command acts on: the one that holds the
    ticket now, not where this process saw it last; and on a move's target too."""
    reception, xray, lab = await two.queue(), await two.queue(), await two.queue()
    ticket_id = await two.enqueue(reception)  # a saw it at the reception
    with pytest.raises(NotAssigned, match=reception):
        await two.run(CancelTicket(ticket_id=ticket_id), queues=frozenset({xray}), service=two.a)
    await two.run(TransferTicket(ticket_id=ticket_id, to_queue_id=xray), service=two.b)
    with pytest.raises(NotAssigned, match=lab):  # its target is not theirs
        await two.run(
            TransferTicket(ticket_id=ticket_id, to_queue_id=lab),
            queues=frozenset({xray}),
            service=two.a,
        )
    with pytest.raises(NotAssigned, match=xray):  # where it is now is not theirs
        await two.run(
            CancelTicket(ticket_id=ticket_id), queues=frozenset({reception}), service=two.a
        )
    xray_events = len(await two.store.read_stream(xray))
    cancelled = await two.run(
        CancelTicket(ticket_id=ticket_id), queues=frozenset({xray}), service=two.a
    )
    assert cancelled.queue_id == xray
    assert len(await two.store.read_stream(xray)) == xray_events + 1  # the refusals wrote nothing
    assert len(await two.store.read_stream(lab)) == 1
    # Another tenant's queue is nothing to them: a 404, not "not assigned" (a 403).
    elsewhere = await two.queue(tenant_id="tenant-b")
    with pytest.raises(Rejected, match="not found"):
        await two.run(CallNext(counter="1"), queue_id=elsewhere, queues=frozenset({xray}))
