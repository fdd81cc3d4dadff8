"""One person at a counter at a time, over HTTP on a real PostgreSQL: the queue's
`busy_counter_policy` refuses a second call (409 counter-busy, nothing appended) or closes the
previous visit first (a no-show, or served, in the same append as the call)."""

from __future__ import annotations

from typing import Any

from eventstore.postgres import PostgresEventStore
from tests.integration.conftest import ApiClient

PROBLEM = "application/problem+json"


async def _line(api: ApiClient, queue_id: str, people: int) -> list[str]:
    return [(await api.enqueue(queue_id))["ticket"]["ticket_id"] for _ in range(people)]


async def _call_next(api: ApiClient, queue_id: str, counter: str) -> Any:
    return await api.post(f"/v1/queues/{queue_id}/call-next", "staff", json={"counter": counter})


async def _types(store: PostgresEventStore, queue_id: str, after: int) -> list[str]:
    return [r.event_type for r in await store.read_stream(queue_id, after)]


async def test_a_new_queue_refuses_a_second_call_and_changes_nothing(
    api: ApiClient, store: PostgresEventStore
) -> None:
    queue_id = await api.create_queue(prefix="C")
    first, _, third = await _line(api, queue_id, 3)
    called = await _call_next(api, queue_id, "1")
    assert called.status_code == 200 and called.json()["ticket"]["ticket_id"] == first
    version = called.json()["stream_version"]

    again = await _call_next(api, queue_id, "1")
    by_id = await api.post(
        f"/v1/tickets/{third}/call", "staff", json={"counter": "1", "reason": "appointment"}
    )

    for refused in (again, by_id):
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"] == PROBLEM
        problem = refused.json()
        assert problem["type"] == "/problems/counter-busy" and problem["status"] == 409
        assert problem["title"] == "Someone is still called or being served at this counter"
        assert "C-001" in problem["detail"] and "called" in problem["detail"]
        assert "complete C-001 or mark it a no-show" in problem["detail"]
        # ... and for programs (the staff console offers to close that visit):
        assert problem["counter"] == "1"
        assert problem["tickets"] == [{"ticket_id": first, "number": "C-001", "status": "called"}]
    assert len(await store.read_stream(queue_id)) == version  # nothing appended
    # Another counter is free; a recall at the busy one stays allowed.
    other = await _call_next(api, queue_id, "2")
    assert other.status_code == 200 and other.json()["stream_version"] == version + 1
    recall = await api.post(f"/v1/tickets/{first}/recall", "staff")
    assert recall.status_code == 200, recall.text


async def test_a_person_being_served_keeps_the_counter_busy_until_completed(
    api: ApiClient,
) -> None:
    queue_id = await api.create_queue(prefix="S")
    first, second = await _line(api, queue_id, 2)
    await _call_next(api, queue_id, "3")
    assert (await api.post(f"/v1/tickets/{first}/start", "staff")).status_code == 200

    busy = await _call_next(api, queue_id, "3")
    assert busy.status_code == 409 and busy.json()["type"] == "/problems/counter-busy"
    assert "S-001 is being served" in busy.json()["detail"]

    assert (await api.post(f"/v1/tickets/{first}/complete", "staff")).status_code == 200
    free = await _call_next(api, queue_id, "3")
    assert free.status_code == 200 and free.json()["ticket"]["ticket_id"] == second
    assert free.json()["event_types"] == ["TicketCalled"]


async def test_close_previous_closes_the_visit_in_the_same_append(
    api: ApiClient, store: PostgresEventStore
) -> None:
    queue_id = await api.create_queue(busy_counter_policy="close_previous")
    first, second, third, fourth = await _line(api, queue_id, 4)
    await _call_next(api, queue_id, "1")

    # Called, never came: a no-show (who may still return within the grace period).
    closed = await _call_next(api, queue_id, "1")
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert body["event_types"] == ["TicketNoShow", "TicketCalled"] and len(body["event_ids"]) == 2
    assert body["ticket"]["ticket_id"] == second and body["ticket"]["counter"] == "1"
    stored = await store.read_stream(queue_id, body["stream_version"] - 2)
    assert [(r.event_type, getattr(r.event, "ticket_id", None)) for r in stored] == [
        ("TicketNoShow", first),
        ("TicketCalled", second),
    ]
    assert len({r.command_id for r in stored}) == 1  # one command, one append

    # Being served: served. The call of a given person closes it the same way.
    assert (await api.post(f"/v1/tickets/{second}/start", "staff")).status_code == 200
    version = (await _call_next(api, queue_id, "2")).json()["stream_version"]  # third, at 2
    by_id = await api.post(
        f"/v1/tickets/{fourth}/call", "staff", json={"counter": "1", "reason": "appointment"}
    )
    assert by_id.status_code == 200, by_id.text
    assert by_id.json()["event_types"] == ["TicketServed", "TicketCalled"]
    assert await _types(store, queue_id, version) == ["TicketServed", "TicketCalled"]
    assert (await api.post(f"/v1/tickets/{second}/complete", "staff")).status_code == 409
    returned = await api.post(f"/v1/tickets/{first}/return", "staff")
    assert returned.status_code == 200, returned.text
    # The other counter's visit was not touched.
    assert (await api.post(f"/v1/tickets/{third}/start", "staff")).status_code == 200


async def test_patch_switches_the_policy(api: ApiClient, store: PostgresEventStore) -> None:
    queue_id = await api.create_queue()
    _, second, _ = await _line(api, queue_id, 3)
    await _call_next(api, queue_id, "1")
    assert (await _call_next(api, queue_id, "1")).status_code == 409

    patched = await api.http.patch(
        f"/v1/queues/{queue_id}",
        headers=api.auth(),
        json={"busy_counter_policy": "close_previous"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["event_types"] == ["QueueReconfigured"]
    closed = await _call_next(api, queue_id, "1")
    assert closed.json()["event_types"] == ["TicketNoShow", "TicketCalled"]
    assert closed.json()["ticket"]["ticket_id"] == second

    back = await api.http.patch(
        f"/v1/queues/{queue_id}", headers=api.auth(), json={"busy_counter_policy": "refuse"}
    )
    assert back.status_code == 200
    assert (await _call_next(api, queue_id, "1")).json()["type"] == "/problems/counter-busy"
    # The same setting again changes nothing (no event).
    same = await api.http.patch(
        f"/v1/queues/{queue_id}", headers=api.auth(), json={"busy_counter_policy": "refuse"}
    )
    assert same.status_code == 200 and same.json()["event_types"] == []
    reconfigured = [
        r.event for r in await store.read_stream(queue_id) if r.event_type == "QueueReconfigured"
    ]
    assert [e.config.busy_counter_policy for e in reconfigured] == [  # type: ignore[attr-defined]
        "close_previous",
        "refuse",
    ]


async def test_an_unknown_policy_is_a_422_that_names_the_values(api: ApiClient) -> None:
    queue_id = await api.create_queue()
    for response in (
        await api.post("/v1/queues", json={"name": "X", "busy_counter_policy": "shrug"}),
        await api.http.patch(
            f"/v1/queues/{queue_id}", headers=api.auth(), json={"busy_counter_policy": "shrug"}
        ),
    ):
        assert response.status_code == 422, response.text
        assert response.json()["type"] == "/problems/validation"
        assert "'refuse' or 'close_previous'" in str(response.json()["errors"])


async def test_the_document_states_the_policy_and_the_problem(api: ApiClient) -> None:
    doc = (await api.http.get("/openapi.json")).json()
    setting = doc["components"]["schemas"]["QueueCreateIn"]["properties"]["busy_counter_policy"]
    assert setting["anyOf"][0]["enum"] == ["refuse", "close_previous"], setting
    assert "`refuse`" in setting["description"] and "`close_previous`" in setting["description"]
    for path, method in (
        ("/v1/queues/{queue_id}/call-next", "post"),
        ("/v1/tickets/{ticket_id}/call", "post"),
    ):
        assert (
            "/problems/counter-busy"
            in doc["paths"][path][method]["responses"]["409"]["description"]
        )
