"""The command API end to end on a real PostgreSQL: the happy paths, tenancy and idempotency."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from domain.events import QueueReconfigured
from domain.evolve import fold
from domain.state import initial_state
from eventstore.postgres import PostgresEventStore
from tests.integration.conftest import ApiClient

PROBLEM = "application/problem+json"


async def test_enqueue_call_serve_in_priority_order(api: ApiClient) -> None:
    queue_id = await api.create_queue(prefix="B")
    normal = await api.enqueue(queue_id)
    vip = await api.enqueue(queue_id, priority="vip")
    urgent = await api.enqueue(queue_id, priority="urgent", contact={"name": "Ada"})
    assert normal["ticket"]["number"] == "B-001" and normal["ticket"]["position"] == 1
    assert urgent["ticket"]["position"] == 1 and urgent["ticket"]["people_ahead"] == 0
    assert urgent["ticket"]["token"] and urgent["stream_version"] == 4
    assert urgent["event_types"] == ["TicketEnqueued"] and len(urgent["event_ids"]) == 1

    order = []
    for counter in ("2", "1", "3"):  # one person at a counter at a time
        response = await api.post(
            f"/v1/queues/{queue_id}/call-next", "staff", json={"counter": counter}
        )
        assert response.status_code == 200, response.text
        order.append(response.json()["ticket"]["ticket_id"])
        assert response.json()["ticket"]["status"] == "called"
        assert response.json()["ticket"]["counter"] == counter
    assert order == [t["ticket"]["ticket_id"] for t in (urgent, vip, normal)]

    empty = await api.post(f"/v1/queues/{queue_id}/call-next", "staff", json={"counter": "2"})
    assert empty.status_code == 409 and empty.headers["content-type"] == PROBLEM
    assert empty.json()["type"] == "/problems/queue-empty"

    ticket = urgent["ticket"]["ticket_id"]
    started = await api.post(f"/v1/tickets/{ticket}/start", "staff")
    assert started.status_code == 200 and started.json()["ticket"]["status"] == "serving"
    done = await api.post(f"/v1/tickets/{ticket}/complete", "staff")
    assert done.json()["ticket"]["status"] == "served"
    again = await api.post(f"/v1/tickets/{ticket}/complete", "staff")
    assert again.status_code == 409 and again.json()["type"] == "/problems/invalid-transition"


async def test_other_tenants_queue_and_ticket_are_not_found(api: ApiClient) -> None:
    queue_id = await api.create_queue()
    ticket = (await api.enqueue(queue_id))["ticket"]["ticket_id"]
    other = {"Authorization": f"Bearer {api.other_tenant_key}"}
    for path, body in (
        (f"/v1/queues/{queue_id}/tickets", {}),
        (f"/v1/queues/{queue_id}/call-next", {"counter": "1"}),
        (f"/v1/queues/{queue_id}/pause", None),
        (f"/v1/tickets/{ticket}/cancel", None),
        (f"/v1/queues/{uuid.uuid4()}/tickets", {}),
        (f"/v1/tickets/{uuid.uuid4()}/start", None),
    ):
        response = await api.http.post(path, headers=other, json=body)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["type"] == "/problems/not-found"


async def test_roles_are_enforced(api: ApiClient) -> None:
    queue_id = await api.create_queue()
    assert (await api.post("/v1/queues", "staff", json={"name": "x"})).status_code == 403
    assert (await api.post(f"/v1/queues/{queue_id}/tickets", "viewer", json={})).status_code == 403
    kiosk = await api.post(f"/v1/queues/{queue_id}/tickets", "kiosk", json={})
    assert kiosk.status_code == 201
    call = await api.post(f"/v1/queues/{queue_id}/call-next", "kiosk", json={"counter": "1"})
    assert call.status_code == 403 and call.json()["type"] == "/problems/forbidden"
    no_key = await api.http.post(f"/v1/queues/{queue_id}/tickets", json={})
    assert no_key.status_code == 401 and no_key.headers["www-authenticate"] == "Bearer"
    bad_key = await api.http.post(
        f"/v1/queues/{queue_id}/tickets", json={}, headers={"Authorization": "Bearer vq_nope"}
    )
    assert bad_key.status_code == 401


async def test_idempotent_retry_returns_the_first_answer(api: ApiClient) -> None:
    queue_id = await api.create_queue()
    headers = {"Idempotency-Key": "enqueue-1"}
    first = await api.post(
        f"/v1/queues/{queue_id}/tickets", json={"priority": "vip"}, headers=headers
    )
    retry = await api.post(
        f"/v1/queues/{queue_id}/tickets", json={"priority": "vip"}, headers=headers
    )
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json() and retry.headers["idempotent-replayed"] == "true"
    other_body = await api.post(
        f"/v1/queues/{queue_id}/tickets", json={"priority": "urgent"}, headers=headers
    )
    assert other_body.status_code == 409
    assert other_body.json()["type"] == "/problems/idempotency-key-reused"


async def test_fifty_concurrent_retries_make_one_ticket(api: ApiClient) -> None:
    queue_id = await api.create_queue()
    headers = {"Idempotency-Key": f"kiosk-press-{uuid.uuid4()}"}
    answers = await asyncio.gather(
        *(
            api.post(f"/v1/queues/{queue_id}/tickets", "kiosk", json={}, headers=headers)
            for _ in range(50)
        )
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["ticket"]["ticket_id"] for a in answers}) == 1
    listing = await api.post(f"/v1/queues/{queue_id}/call-next", "staff", json={"counter": "1"})
    assert listing.status_code == 200
    nobody = await api.post(f"/v1/queues/{queue_id}/call-next", "staff", json={"counter": "1"})
    assert nobody.json()["type"] == "/problems/queue-empty"


async def test_transfer_moves_the_ticket_between_queues(api: ApiClient) -> None:
    source = await api.create_queue(prefix="A")
    target = await api.create_queue(prefix="X", transfer_policy="back_of_line")
    ticket = (await api.enqueue(source))["ticket"]["ticket_id"]
    moved = await api.post(
        f"/v1/tickets/{ticket}/transfer",
        "staff",
        json={"to_queue_id": target, "reason": "wrong desk"},
    )
    assert moved.status_code == 200, moved.text
    assert len(moved.json()["event_ids"]) == 2
    # The ticket now lives in the target queue: commands find it there.
    called = await api.post(f"/v1/queues/{target}/call-next", "staff", json={"counter": "1"})
    assert called.json()["ticket"]["ticket_id"] == ticket
    assert called.json()["ticket"]["number"] == "X-001"
    assert (
        await api.post(f"/v1/queues/{source}/call-next", "staff", json={"counter": "1"})
    ).status_code == 409


async def test_a_queue_swamped_in_one_process_sheds_load_with_503(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service_layer.queues

    monkeypatch.setattr(service_layer.queues, "LOCK_WAIT_S", 0.2)
    queue_id = await api.create_queue()
    services = api.http._transport.app.state.services  # type: ignore[attr-defined]
    lock = services.queues._lock(queue_id)
    await lock.acquire()  # a command that holds the queue for too long
    try:
        response = await api.post(f"/v1/queues/{queue_id}/tickets", "kiosk", json={})
    finally:
        lock.release()
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"] == "/problems/service-unavailable"
    assert (await api.post(f"/v1/queues/{queue_id}/tickets", "kiosk", json={})).status_code == 201


async def test_concurrent_patches_of_different_settings_both_land(
    api: ApiClient, store: PostgresEventStore
) -> None:
    """Each PATCH names only its own settings and the queue applies them in its turn, so one
    manager's change never undoes another's; a PATCH that changes nothing records nothing."""
    queue_id = await api.create_queue()
    for round_ in range(1, 6):
        renamed, resized = await asyncio.gather(
            api.http.patch(
                f"/v1/queues/{queue_id}", headers=api.auth(), json={"name": f"Desk {round_}"}
            ),
            api.http.patch(
                f"/v1/queues/{queue_id}",
                headers=api.auth(),
                json={"capacity": 10 * round_, "target_wait_seconds": 60 * round_},
            ),
        )
        assert renamed.status_code == resized.status_code == 200, renamed.text + resized.text
        state = fold([r.event for r in await store.read_stream(queue_id)], initial_state(queue_id))
        config = state.config
        assert (config.name, config.capacity, config.target_wait_seconds) == (
            f"Desk {round_}",
            10 * round_,
            60 * round_,
        )
    version = state.version
    same = await api.http.patch(
        f"/v1/queues/{queue_id}", headers=api.auth(), json={"name": "Desk 5"}
    )
    empty = await api.http.patch(f"/v1/queues/{queue_id}", headers=api.auth(), json={})
    assert same.status_code == empty.status_code == 200
    assert same.json()["stream_version"] == empty.json()["stream_version"] == version
    assert same.json()["event_ids"] == empty.json()["event_ids"] == []


async def test_a_patch_keeps_its_reason_on_the_queue_reconfigured_event(
    api: ApiClient, store: PostgresEventStore
) -> None:
    """The reason is stored with the change (schema version 3), never taken for a setting; a
    reason alone changes nothing, like an empty PATCH; one over 500 characters is refused."""
    queue_id = await api.create_queue()
    path = f"/v1/queues/{queue_id}"
    why = "Suggestion confirmed: a fourth counter for the Monday rush 📈"
    patched = await api.http.patch(
        path, headers=api.auth(), json={"counters": ["1", "2", "3", "4"], "reason": why}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["event_types"] == ["QueueReconfigured"]
    version = patched.json()["stream_version"]
    (recorded,) = await store.read_stream(queue_id, after_version=version - 1)
    assert isinstance(recorded.event, QueueReconfigured)
    assert recorded.event.reason == why
    assert recorded.event.config.counters == ("1", "2", "3", "4")
    async with store.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT schema_version, payload->>'reason' FROM events "
                "WHERE stream_id = %s AND stream_version = %s",
                (queue_id, version),
            )
        ).fetchone()
    assert row == (QueueReconfigured.VERSION, why)  # stored at the newest version

    alone = await api.http.patch(path, headers=api.auth(), json={"reason": why})
    assert alone.status_code == 200, alone.text
    assert alone.json()["stream_version"] == version and alone.json()["event_ids"] == []

    too_long = await api.http.patch(
        path, headers=api.auth(), json={"capacity": 5, "reason": "x" * 501}
    )
    assert too_long.status_code == 422, too_long.text
    assert too_long.headers["content-type"] == PROBLEM
    assert too_long.json()["type"] == "/problems/validation"
    assert "reason" in str(too_long.json()["errors"])
    assert len(await store.read_stream(queue_id)) == version  # nothing appended
    unreasoned = await api.http.patch(path, headers=api.auth(), json={"capacity": 5})
    assert unreasoned.status_code == 200, unreasoned.text
    (last,) = await store.read_stream(queue_id, after_version=version)
    assert isinstance(last.event, QueueReconfigured) and last.event.reason is None
