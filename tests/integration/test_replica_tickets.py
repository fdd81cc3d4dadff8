"""A ticket moved through one API process is acted on where it is now through another.

Each API process remembers where the tickets it saw are (service_layer/locations.py), so a ticket
command skips the ticket index's lookup; behind a load balancer another process may have moved
the ticket meanwhile. The command must still act on the queue that holds the ticket now.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from access.directory import TenantDirectory
from core.settings import Settings
from domain.evolve import fold
from domain.state import initial_state
from eventstore.postgres import PostgresEventStore
from tests.integration.servers import api_servers


@asynccontextmanager
async def two_processes(
    settings: Settings, store: PostgresEventStore, tenant_id: str, *names: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, list[str]]]:
    """An admin's client of each of two API processes, and queues of `names` made through the
    first (one counter each)."""
    admin = (await TenantDirectory(store).create_key(tenant_id, "admin", "admin")).secret
    auth = {"Authorization": f"Bearer {admin}"}
    with api_servers(settings, 2) as (first, second):
        async with (
            httpx.AsyncClient(base_url=first, headers=auth, timeout=30) as a,
            httpx.AsyncClient(base_url=second, headers=auth, timeout=30) as b,
        ):
            queues = []
            for name in names:
                made = await a.post("/v1/queues", json={"name": name, "counters": ["1"]})
                assert made.status_code == 201, made.text
                queues.append(made.json()["queue_id"])
            yield a, b, queues


async def test_a_ticket_moved_through_one_process_is_served_through_the_other(
    settings: Settings, store: PostgresEventStore, tenant_id: str
) -> None:
    async with two_processes(settings, store, tenant_id, "Reception", "X-ray") as (a, b, queues):
        reception, xray = queues
        joined = await a.post(f"/v1/queues/{reception}/tickets", json={})
        assert joined.status_code == 201, joined.text
        ticket_id = joined.json()["ticket"]["ticket_id"]

        moved = await b.post(f"/v1/tickets/{ticket_id}/transfer", json={"to_queue_id": xray})
        assert moved.status_code == 200, moved.text
        # The first process saw the ticket join the reception; it is in the X-ray queue now.
        called = await a.post(f"/v1/queues/{xray}/call-next", json={"counter": "1"})
        assert called.status_code == 200, called.text
        started = await a.post(f"/v1/tickets/{ticket_id}/start")
        assert started.status_code == 200, started.text
        assert started.json()["queue_id"] == xray
        again = await a.post(f"/v1/tickets/{ticket_id}/start")
        assert again.status_code == 409, again.text  # already serving: the refusal stands
        done = await b.post(f"/v1/tickets/{ticket_id}/complete")
        assert done.status_code == 200, done.text

    reception_types = [e.event_type for e in await store.read_stream(reception)]
    xray_types = [e.event_type for e in await store.read_stream(xray)]
    assert reception_types[-2:] == ["TicketEnqueued", "TicketTransferredOut"]
    assert xray_types[-4:] == [
        "TicketTransferredIn",
        "TicketCalled",
        "ServiceStarted",
        "TicketServed",
    ]


async def test_tickets_moved_to_and_fro_through_both_processes_are_each_cancelled_once(
    settings: Settings, store: PostgresEventStore, tenant_id: str
) -> None:
    """Both processes move tickets between two queues while both cancel them, at once: a
    process acting where it last saw a ticket may be behind the other's moves. Every cancel
    succeeds (a waiting ticket can always be cancelled, wherever it is), in the queue that holds
    the ticket then; a move may come too late (409), nothing answers 404 or 5xx, and each
    ticket ends cancelled in exactly one queue."""
    rng = random.Random(7)
    async with two_processes(settings, store, tenant_id, "East", "West") as (a, b, queues):
        tickets = []
        for _ in range(30):  # the first process sees every ticket join the first queue
            joined = await a.post(f"/v1/queues/{queues[0]}/tickets", json={})
            assert joined.status_code == 201, joined.text
            tickets.append(joined.json()["ticket"]["ticket_id"])

        async def mover(ticket_id: str) -> list[int]:
            answers = []
            for hop in range(4):
                http = (a, b)[rng.randrange(2)]
                moved = await http.post(
                    f"/v1/tickets/{ticket_id}/transfer",
                    json={"to_queue_id": queues[(hop + 1) % 2]},  # West, East, ...
                )
                answers.append(moved.status_code)
                await asyncio.sleep(rng.random() / 50)
            return answers

        async def canceller(ticket_id: str) -> httpx.Response:
            await asyncio.sleep(rng.random() / 10)
            return await (a, b)[rng.randrange(2)].post(f"/v1/tickets/{ticket_id}/cancel")

        moves, cancels = await asyncio.gather(
            asyncio.gather(*(mover(t) for t in tickets)),
            asyncio.gather(*(canceller(t) for t in tickets)),
        )

    for response in cancels:
        assert response.status_code == 200, response.text
    assert {code for answers in moves for code in answers} <= {200, 409}, moves
    states = [
        fold([r.event for r in await store.read_stream(queue_id)], initial_state(queue_id))
        for queue_id in queues
    ]
    for ticket_id, response in zip(tickets, cancels, strict=True):
        status = {s.queue_id: s.tickets[ticket_id].status for s in states if ticket_id in s.tickets}
        cancelled = [queue_id for queue_id, st in status.items() if st == "cancelled"]
        assert len(cancelled) == 1, (ticket_id, status)
        assert response.json()["queue_id"] == cancelled[0]
        others = [st for queue_id, st in status.items() if queue_id != cancelled[0]]
        assert all(st == "transferred" for st in others)
