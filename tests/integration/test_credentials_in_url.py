"""A credential in the query string (`?token=`, `?access_token=`) opens reads only.

It is there for what cannot send headers (EventSource, a WebSocket, a screen's link), and a URL
ends up in proxies' logs, browser histories and Referer headers: with it, a request that would
change something (subscribe an address to a person's ticket, stop their messages, cancel) is a
401 that changes nothing; the same credential as a header works.
"""

from __future__ import annotations

from typing import Any

from notifications.store.db import Pool, fetch_all
from tests.integration.conftest import ApiClient

PROBLEM = "application/problem+json"
PHONE = {"channel": "sms", "address": "+447700900124"}


async def _subscriptions(pool: Pool, ticket_id: str) -> list[tuple[str, bool]]:
    rows = await fetch_all(
        pool,
        "SELECT subscription_id::text, cancelled_at IS NOT NULL FROM subscriptions"
        " WHERE ticket_id = %s ORDER BY created_at",
        (ticket_id,),
    )
    return [(str(r[0]), bool(r[1])) for r in rows]


def _refused(answer: Any) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["type"] == "/problems/unauthorized"
    assert "reads only" in answer.json()["detail"]
    assert "X-Ticket-Token" in answer.json()["detail"]  # where it goes instead


async def test_a_token_in_the_url_reads_but_changes_nothing(api: ApiClient, pool: Pool) -> None:
    queue_id = await api.create_queue()
    ticket = (await api.enqueue(queue_id))["ticket"]
    ticket_id, token = str(ticket["ticket_id"]), str(ticket["token"])
    path = f"/v1/tickets/{ticket_id}/subscriptions"

    _refused(await api.http.post(path, params={"token": token}, json=PHONE))
    _refused(await api.http.post(path, params={"access_token": api.keys["admin"]}, json=PHONE))
    assert await _subscriptions(pool, ticket_id) == []

    made = await api.http.post(path, headers={"X-Ticket-Token": token}, json=PHONE)
    assert made.status_code == 201, made.text
    subscription_id = made.json()["subscription_id"]

    # Reading with it still works (an EventSource cannot send a header).
    listed = await api.http.get(path, params={"token": token})
    assert [s["subscription_id"] for s in listed.json()["subscriptions"]] == [subscription_id]

    _refused(await api.http.delete(f"{path}/{subscription_id}", params={"token": token}))
    assert await _subscriptions(pool, ticket_id) == [(subscription_id, False)]
    stopped = await api.http.delete(f"{path}/{subscription_id}", headers={"X-Ticket-Token": token})
    assert stopped.status_code == 204, stopped.text
    assert await _subscriptions(pool, ticket_id) == [(subscription_id, True)]


async def test_the_api_document_offers_no_credential_in_the_url_for_a_change(
    api: ApiClient,
) -> None:
    paths = (await api.http.get("/openapi.json")).json()["paths"]
    subscriptions = "/v1/tickets/{ticket_id}/subscriptions"

    def query(path: str, method: str) -> set[str]:
        found = paths[path][method].get("parameters", [])
        return {p["name"] for p in found if p["in"] == "query"}

    assert {"token", "access_token"} <= query(subscriptions, "get")  # an EventSource reads
    assert not {"token", "access_token"} & query(subscriptions, "post")
    assert not {"token", "access_token"} & query(f"{subscriptions}/{{subscription_id}}", "delete")
