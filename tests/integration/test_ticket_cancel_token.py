"""A customer cancels their own place with the ticket's token (`X-Ticket-Token`), over HTTP on a
real PostgreSQL; keys still cancel as before. A token opens its own ticket and no other; a wrong
one is a 401 that says nothing about which tickets exist; another tenant's key gets a 404."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from domain.events import TicketCancelled
from eventstore.postgres import PostgresEventStore
from tests.integration.conftest import ApiClient

PROBLEM = "application/problem+json"


async def _ticket(api: ApiClient, queue_id: str) -> tuple[str, str]:
    """(ticket id, its token), taken at the kiosk."""
    answer = await api.post(f"/v1/queues/{queue_id}/tickets", "kiosk", json={"channel": "kiosk"})
    assert answer.status_code == 201, answer.text
    ticket = answer.json()["ticket"]
    return ticket["ticket_id"], ticket["token"]


async def _cancel(
    api: ApiClient, ticket_id: str, token: str | None = None, **kwargs: Any
) -> httpx.Response:
    headers = {**({"X-Ticket-Token": token} if token else {}), **kwargs.pop("headers", {})}
    return await api.http.post(f"/v1/tickets/{ticket_id}/cancel", headers=headers, **kwargs)


async def _last(store: PostgresEventStore, queue_id: str) -> Any:
    return (await store.read_stream(queue_id))[-1]


async def test_the_ticket_token_cancels_its_own_place(
    api: ApiClient, store: PostgresEventStore
) -> None:
    queue_id = await api.create_queue()
    ticket_id, token = await _ticket(api, queue_id)

    cancelled = await _cancel(api, ticket_id, token, json={"reason": "can't wait"})

    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["event_types"] == ["TicketCancelled"]
    assert body["ticket"]["ticket_id"] == ticket_id and body["ticket"]["status"] == "cancelled"
    assert body["ticket"]["token"] is None  # an answer never hands a token out again
    last = await _last(store, queue_id)
    assert last.event == TicketCancelled(
        ticket_id=ticket_id, by="customer", reason="can't wait", at=last.event.at
    )
    assert last.actor == f"ticket:{ticket_id}"
    again = await _cancel(api, ticket_id, token)
    assert again.status_code == 409 and again.json()["type"] == "/problems/invalid-transition"


async def test_a_retry_with_the_idempotency_key_gets_the_first_answer(api: ApiClient) -> None:
    queue_id = await api.create_queue()
    ticket_id, token = await _ticket(api, queue_id)
    key = {"Idempotency-Key": f"cancel-{uuid.uuid4()}"}

    first = await _cancel(api, ticket_id, token, headers=key)
    retry = await _cancel(api, ticket_id, token, headers=key)

    assert first.status_code == retry.status_code == 200, retry.text
    assert retry.json() == first.json() and retry.headers["idempotent-replayed"] == "true"


async def test_a_wrong_token_is_a_401_that_says_nothing_about_tickets(
    api: ApiClient, store: PostgresEventStore
) -> None:
    queue_id = await api.create_queue()
    ticket_id, token = await _ticket(api, queue_id)
    version = len(await store.read_stream(queue_id))

    answers = {
        "wrong token": await _cancel(api, ticket_id, "x" * len(token)),
        "no such ticket": await _cancel(api, str(uuid.uuid4()), token),
        "nothing": await _cancel(api, ticket_id),
        "empty": await _cancel(api, ticket_id, headers={"X-Ticket-Token": ""}),
        "not ascii": await _cancel(
            api, ticket_id, headers={"X-Ticket-Token": "jalape\xf1o".encode("latin-1")}
        ),
        # Secrets never travel in a URL: a token in the query string is no credential here.
        "in the query": await api.http.post(f"/v1/tickets/{ticket_id}/cancel?token={token}"),
    }

    for what, answer in answers.items():
        assert answer.status_code == 401, (what, answer.text)
        assert answer.headers["content-type"] == PROBLEM and answer.headers["www-authenticate"]
        assert answer.json()["type"] == "/problems/unauthorized", what
    # The same words whether or not the ticket exists.
    assert answers["wrong token"].json()["detail"] == answers["no such ticket"].json()["detail"]
    assert len(await store.read_stream(queue_id)) == version  # nothing happened


async def test_a_token_never_cancels_another_ticket(
    api: ApiClient, store: PostgresEventStore
) -> None:
    queue_id = await api.create_queue()
    mine, my_token = await _ticket(api, queue_id)
    theirs, their_token = await _ticket(api, queue_id)
    version = len(await store.read_stream(queue_id))

    refused = await _cancel(api, theirs, my_token)

    assert refused.status_code == 401
    assert len(await store.read_stream(queue_id)) == version
    # Each token still cancels its own.
    assert (await _cancel(api, theirs, their_token)).status_code == 200
    assert (await _cancel(api, mine, my_token)).status_code == 200


async def test_keys_cancel_as_before_and_another_tenant_gets_a_404(
    api: ApiClient, store: PostgresEventStore
) -> None:
    queue_id = await api.create_queue()
    (by_kiosk, _), (by_staff, _), (by_other, token) = [await _ticket(api, queue_id) for _ in "abc"]

    kiosk = await api.post(f"/v1/tickets/{by_kiosk}/cancel", "kiosk")
    assert kiosk.status_code == 200 and (await _last(store, queue_id)).event.by == "customer"
    staff = await api.post(f"/v1/tickets/{by_staff}/cancel", "staff")
    assert staff.status_code == 200 and (await _last(store, queue_id)).event.by == "staff"
    viewer = await api.post(f"/v1/tickets/{by_other}/cancel", "viewer")
    assert viewer.status_code == 403 and viewer.json()["type"] == "/problems/forbidden"

    other = {"Authorization": f"Bearer {api.other_tenant_key}"}
    for headers in (other, {**other, "X-Ticket-Token": token}):  # a key is what counts
        refused = await _cancel(api, by_other, headers=headers)
        assert refused.status_code == 404, refused.text
        assert refused.json()["type"] == "/problems/not-found"
    # A key that is not valid is a 401 even with a good token: the key is what was sent.
    bad_key = await _cancel(api, by_other, token, headers={"Authorization": "Bearer vq_nope"})
    assert bad_key.status_code == 401
    assert (await _cancel(api, by_other, token)).status_code == 200


async def test_the_token_follows_a_transferred_ticket(
    api: ApiClient, store: PostgresEventStore
) -> None:
    source, target = await api.create_queue(), await api.create_queue(prefix="T")
    ticket_id, token = await _ticket(api, source)
    moved = await api.post(
        f"/v1/tickets/{ticket_id}/transfer", "staff", json={"to_queue_id": target}
    )
    assert moved.status_code == 200, moved.text

    cancelled = await _cancel(api, ticket_id, token)

    assert cancelled.status_code == 200 and cancelled.json()["queue_id"] == target
    assert isinstance((await _last(store, target)).event, TicketCancelled)


async def test_the_document_says_the_token_may_cancel(api: ApiClient) -> None:
    doc = (await api.http.get("/openapi.json")).json()
    operation = doc["paths"]["/v1/tickets/{ticket_id}/cancel"]["post"]

    assert operation["x-permission"] == "ticket-token"
    assert operation["x-permission-bearer"] == "tickets:enqueue"
    assert "the ticket's own token" in operation["description"]
    headers = [p for p in operation["parameters"] if p["in"] == "header"]
    assert "X-Ticket-Token" in {p["name"] for p in headers}
    assert "401" in operation["responses"] and "404" in operation["responses"]
