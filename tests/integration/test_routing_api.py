"""Which queue to join, read from the read models a real worker folds: `GET /v1/routing` ranks the
queues that could take a person by the estimators' "wait if you join now", and `POST
/v1/routing/tickets` takes the ticket in the first; closed queues and queues without the service
are never chosen, and the ticket's events say it was routed."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from core.settings import Settings
from domain.events import TicketEnqueued
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from tests.integration.conftest import ApiClient
from tests.integration.servers import read_side

STARTUP_WAIT_S = 30  # a stream worker that just started takes seconds to join its group


async def _seen(api: ApiClient, queue_id: str, version: int) -> None:
    """Wait until the read model of `queue_id` reached `version`."""
    read = await api.http.get(
        f"/v1/queues/{queue_id}",
        headers=api.auth("admin"),
        params={"min_version": version, "wait": STARTUP_WAIT_S},
    )
    assert read.status_code == 200, read.text


async def _joined_with(settings: Settings, queue_id: str, ticket_id: str) -> dict[str, str]:
    """The metadata the ticket's `TicketEnqueued` event keeps."""
    pool = await open_pool(settings, min_size=1, max_size=1, wait=True)
    try:
        events = await PostgresEventStore(pool).read_stream(queue_id)
    finally:
        await pool.close()
    joined = [r.event for r in events if isinstance(r.event, TicketEnqueued)]
    return next(dict(e.metadata) for e in joined if e.ticket_id == ticket_id)


async def _routing(api: ApiClient, **params: Any) -> dict[str, Any]:
    answer = await api.http.get("/v1/routing", headers=api.auth("viewer"), params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_the_shortest_expected_wait_is_chosen_and_closed_queues_never(
    settings: Settings, topics: list[str], api: ApiClient
) -> None:
    busy = await api.create_queue(name="Busy", counters=["1"], service_types=["general"])
    quiet = await api.create_queue(name="Quiet", counters=["1"], service_types=["general"])
    closed = await api.create_queue(name="Closed", status="closed", service_types=["general"])
    loans = await api.create_queue(name="Loans", counters=["1"], service_types=["loans"])
    with read_side(settings):
        for _ in range(6):
            last = await api.enqueue(busy, service_type="general")
        await _seen(api, busy, last["stream_version"])
        for queue_id in (quiet, closed, loans):
            await _seen(api, queue_id, 1)

        ranking = await _routing(api, service_type="general")
        names = [q["name"] for q in ranking["queues"]]
        assert names == ["Quiet", "Busy"], "closed and loans-only queues are left out"
        assert ranking["best"]["queue_id"] == quiet
        busy_view = ranking["queues"][1]
        assert busy_view["waiting"] == 6 and busy_view["estimate"]["p50_seconds"] > 0
        only = await _routing(api, service_type="loans")
        assert [q["queue_id"] for q in only["queues"]] == [loans]
        among = await _routing(api, queue_id=[busy, closed])
        assert [q["queue_id"] for q in among["queues"]] == [busy]

        # A queue that is open but not at this hour ranks first (nobody waits) and refuses:
        # the person goes to the next one.
        later = (datetime.now(UTC).weekday() + 3) % 7
        evening = await api.create_queue(
            name="Another day",
            service_types=["general"],
            opening_hours=[{"weekday": later, "opens": "10:00", "closes": "11:00"}],
        )
        await _seen(api, evening, 1)
        assert (await _routing(api, service_type="general"))["best"]["queue_id"] == evening
        taken = await api.post(
            "/v1/routing/tickets", "kiosk", json={"service_type": "general", "channel": "kiosk"}
        )
        assert taken.status_code == 201, taken.text
        ticket = taken.json()["ticket"]
        assert (ticket["queue_id"], ticket["position"]) == (quiet, 1)
        assert ticket["token"] and taken.headers["Location"].endswith(ticket["ticket_id"])
        assert [q["queue_id"] for q in taken.json()["routing"]] == [evening, quiet, busy]
        assert await _joined_with(settings, quiet, ticket["ticket_id"]) == {"routed": "best-wait"}

        # The analytics count the routed ticket apart: joined, then called after its wait.
        called = await api.post(f"/v1/queues/{quiet}/call-next", "staff", json={"counter": "1"})
        assert called.json()["ticket"]["ticket_id"] == ticket["ticket_id"]
        await _seen(api, quiet, called.json()["stream_version"])
        now = datetime.now(UTC)
        window = {
            "from": (now - timedelta(hours=1)).isoformat(),
            "to": (now + timedelta(hours=1)).isoformat(),
        }
        figures = await api.http.get(
            f"/v1/queues/{quiet}/analytics", headers=api.auth("admin"), params=window
        )
        assert figures.status_code == 200, figures.text
        routed = figures.json()["total"]["routed"]
        assert (routed["joined"], routed["called"], routed["shown"]) == (1, 1, 1)
        assert routed["mean_wait_seconds"] is not None and routed["mean_wait_seconds"] >= 0
        sheet = await api.http.get(
            f"/v1/queues/{quiet}/analytics",
            headers=api.auth("admin"),
            params={**window, "format": "csv"},
        )
        rows = list(csv.DictReader(io.StringIO(sheet.text)))
        assert sum(int(r["routed_joined"]) for r in rows) == 1
        assert sum(int(r["routed_called"]) for r in rows) == 1

        nowhere = await api.post("/v1/routing/tickets", "kiosk", json={"service_type": "tax"})
        assert nowhere.status_code == 404, nowhere.text
        display = await api.post("/v1/routing/tickets", "viewer", json={})
        assert display.status_code == 403, display.text


async def test_a_service_type_with_control_characters_or_bytes_that_are_not_utf8_is_422(
    api: ApiClient,
) -> None:
    for raw in ("a%00b", "%ff%fe", "a%0Ab"):
        answer = await api.http.get(f"/v1/routing?service_type={raw}", headers=api.auth("viewer"))
        assert answer.status_code == 422, (raw, answer.text)
        assert answer.json()["type"] == "/problems/validation"
    assert (await _routing(api, service_type="Café"))["queues"] == []
