"""Aging: the write side's scheduler promotes a ticket that waited too long, by an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from core.settings import Settings
from domain.events import TicketPromoted
from eventstore.postgres import PostgresEventStore
from vq.api import create_app


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_scheduler_promotes_tickets_past_the_aging_bound(
    settings: Settings, store: PostgresEventStore
) -> None:
    clock = Clock()
    app = create_app(settings.model_copy(update={"aging_interval_s": 3600}), clock=clock)
    async with app.router.lifespan_context(app):
        services = app.state.services
        _, admin = await services.directory.create_tenant("Aging")
        headers = {"Authorization": f"Bearer {admin.secret}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://vq.test", headers=headers
        ) as http:
            queue = (
                await http.post("/v1/queues", json={"name": "Slow", "aging_after_seconds": 600})
            ).json()["queue_id"]
            old = await http.post(f"/v1/queues/{queue}/tickets", json={})
            clock.now += timedelta(minutes=5)
            vip = await http.post(f"/v1/queues/{queue}/tickets", json={"priority": "vip"})
            old_id = old.json()["ticket"]["ticket_id"]
            vip_id = vip.json()["ticket"]["ticket_id"]
            assert vip.json()["ticket"]["position"] == 1

            plain = (await http.post("/v1/queues", json={"name": "No aging"})).json()["queue_id"]
            # Only queues that age are the scheduler's business (it loads nothing else).
            assert [q for q, _ in await store.aging_streams()] == [queue]
            stopped = await http.patch(f"/v1/queues/{plain}", json={"aging_after_seconds": 60})
            assert stopped.status_code == 200
            assert {q for q, _ in await store.aging_streams()} == {queue, plain}
            await http.patch(f"/v1/queues/{plain}", json={"aging_after_seconds": None})
            assert [q for q, _ in await store.aging_streams()] == [queue]

            scheduler = app.state.scheduler
            assert await scheduler.tick() == 0  # nobody has waited 10 minutes yet
            clock.now += timedelta(minutes=5, seconds=1)
            assert await scheduler.tick() == 1  # the normal ticket waited 10 minutes: to vip
            events = [r.event for r in await store.read_stream(queue)]
            promoted = [e for e in events if isinstance(e, TicketPromoted)]
            assert [(e.ticket_id, e.from_priority, e.to_priority) for e in promoted] == [
                (old_id, "normal", "vip")
            ]
            # Within vip, it arrived first: it is called first now.
            called = await http.post(f"/v1/queues/{queue}/call-next", json={"counter": "1"})
            assert called.json()["ticket"]["ticket_id"] == old_id
            assert called.json()["ticket"]["priority"] == "vip"
            assert vip_id != old_id
