"""A ticket moved through one API process is acted on where it is now through another.

Each API process remembers where the tickets it saw are (service_layer/locations.py), so a ticket
command skips the ticket index's lookup; behind a load balancer another process may have moved
the ticket meanwhile. The command must still act on the queue that holds the ticket now.
"""

from __future__ import annotations

import httpx

from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from tests.integration.servers import api_servers


async def test_a_ticket_moved_through_one_process_is_served_through_the_other(
    settings: Settings, store: PostgresEventStore, tenant_id: str
) -> None:
    from access.directory import TenantDirectory

    admin = (await TenantDirectory(store).create_key(tenant_id, "admin", "admin")).secret
    auth = {"Authorization": f"Bearer {admin}"}
    with api_servers(settings, 2) as (first, second):
        async with (
            httpx.AsyncClient(base_url=first, headers=auth, timeout=30) as a,
            httpx.AsyncClient(base_url=second, headers=auth, timeout=30) as b,
        ):
            queues = []
            for name in ("Reception", "X-ray"):
                made = await a.post("/v1/queues", json={"name": name, "counters": ["1"]})
                assert made.status_code == 201, made.text
                queues.append(made.json()["queue_id"])
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
