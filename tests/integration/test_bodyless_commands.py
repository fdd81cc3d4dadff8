"""Commands whose body has no required field take what HTTP clients send for "nothing": no
body, `{}` or `null` (most clients send `{}` with a JSON content type), and answer 2xx to each.

The routes come from the OpenAPI document, so a new command without required fields is tested
the day it appears (the test fails until it says how to set one up).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from core.settings import Settings
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from projections.layout import Keys
from projections.rebuild import rebuild
from tests.integration.bad_input_access import PASSWORD, insert_person
from tests.integration.conftest import ApiClient
from tests.integration.reach import delivery_topics

# In what a setup gives: the access token to call with (the routes of a person's own session),
# instead of the admin key.
BEARER = "bearer"

NOTHING: dict[str, dict[str, Any]] = {
    "no body": {},
    "{}": {"content": b"{}", "headers": {"Content-Type": "application/json"}},
    "null": {"content": b"null", "headers": {"Content-Type": "application/json"}},
}


async def _ticket(api: ApiClient, status: str) -> dict[str, str]:
    """A ticket in `status`, alone in a fresh queue."""
    queue_id = await api.create_queue()
    ticket_id = (await api.enqueue(queue_id))["ticket"]["ticket_id"]
    steps = {
        "waiting": [],
        "called": ["call-next"],
        "serving": ["call-next", "start"],
        "no_show": ["call-next", "no-show"],
    }[status]
    for step in steps:
        path = (
            f"/v1/queues/{queue_id}/call-next"
            if step == "call-next"
            else f"/v1/tickets/{ticket_id}/{step}"
        )
        response = await api.post(path, json={"counter": "1"} if step == "call-next" else None)
        assert response.status_code == 200, response.text
    return {"ticket_id": ticket_id}


async def _queue(api: ApiClient, status: str) -> dict[str, str]:
    queue_id = await api.create_queue(status="closed" if status == "closed" else "open")
    if status == "paused":
        assert (await api.post(f"/v1/queues/{queue_id}/pause")).status_code == 200
    return {"queue_id": queue_id}


async def _endpoint(api: ApiClient) -> dict[str, str]:
    made = await api.post("/v1/webhooks/endpoints", json={"url": "https://hooks.example.com/x"})
    assert made.status_code == 201, made.text
    return {"endpoint_id": made.json()["endpoint_id"]}


Setup = Callable[[ApiClient], Awaitable[dict[str, str]]]


async def _invited(api: ApiClient) -> dict[str, str]:
    email = f"{uuid.uuid4().hex[:12]}@clinic.example"
    made = await api.post("/v1/users", json={"email": email, "name": "Nurse", "role": "staff"})
    assert made.status_code == 201, made.text
    return {"user_id": made.json()["user_id"]}


async def _booking(api: ApiClient) -> dict[str, str]:
    """A booking in the next hours of a queue that takes them (check-in open a day ahead)."""
    queue_id = await api.create_queue(appointments={"slot_minutes": 60, "early_minutes": 1440})
    slot = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    made = await api.post(f"/v1/queues/{queue_id}/appointments", json={"slot_at": slot.isoformat()})
    assert made.status_code == 201, made.text
    return {"appointment_id": made.json()["appointment_id"]}


async def _key(api: ApiClient) -> dict[str, str]:
    made = await api.post("/v1/keys", json={"name": "door", "role": "kiosk"})
    assert made.status_code == 201, made.text
    return {"key_id": made.json()["key_id"]}


def _signed_in(settings: Settings, *, verified: bool = True) -> Setup:
    """A new person of the tenant, signed in: their access token (`verified` False: one who may
    ask for a verification link)."""

    async def setup(api: ApiClient) -> dict[str, str]:
        email = f"{uuid.uuid4().hex[:12]}@clinic.example"
        await insert_person(settings, api.tenant_id, email, verified=verified)
        body = {"tenant_id": api.tenant_id, "email": email, "password": PASSWORD}
        signed_in = await api.http.post("/v1/auth/login", json=body)
        assert signed_in.status_code == 200, signed_in.text
        return {BEARER: signed_in.json()["access_token"]}

    return setup


def _opened_once(settings: Settings) -> Setup:
    """A queue that opened (a staffing plan learns from such days), once the tenant's previous
    plan is over: one plan per organisation at a time."""

    async def setup(api: ApiClient) -> dict[str, str]:
        client = aioredis.Redis.from_url(settings.redis_dsn)
        try:
            slot = f"{settings.redis_prefix}:advice:{api.tenant_id}:running"
            async with asyncio.timeout(120):
                for _ in range(600):
                    if not await client.exists(slot):
                        break
                    await asyncio.sleep(0.2)
        finally:
            await client.aclose()
        ids = await _queue(api, "closed")
        opened = await api.post(f"/v1/queues/{ids['queue_id']}/open")
        assert opened.status_code == 200, opened.text
        return ids

    return setup


def _routable(settings: Settings) -> Setup:
    """An open queue the read models show (no stream worker runs here: written as the rebuild
    writes it), so that a ticket routed to the best queue has one to go to."""

    async def setup(api: ApiClient) -> dict[str, str]:
        ids = await _queue(api, "open")
        pool = await open_pool(settings, min_size=1, max_size=1, wait=True)
        client = aioredis.Redis.from_url(settings.redis_dsn)
        try:
            store = PostgresEventStore(pool)
            await rebuild(store, client, Keys(settings.redis_prefix), {ids["queue_id"]})
        finally:
            await client.aclose()
            await pool.close()
        return ids

    return setup


# Each route without required fields, and how to make a request to it succeed.
COMMAND_SETUPS: dict[tuple[str, str], Setup] = {
    ("PATCH", "/v1/queues/{queue_id}"): lambda api: _queue(api, "open"),
    ("POST", "/v1/queues/{queue_id}/open"): lambda api: _queue(api, "closed"),
    ("POST", "/v1/queues/{queue_id}/pause"): lambda api: _queue(api, "open"),
    ("POST", "/v1/queues/{queue_id}/resume"): lambda api: _queue(api, "paused"),
    ("POST", "/v1/queues/{queue_id}/close"): lambda api: _queue(api, "open"),
    ("POST", "/v1/queues/{queue_id}/tickets"): lambda api: _queue(api, "open"),
    ("POST", "/v1/tickets/{ticket_id}/recall"): lambda api: _ticket(api, "called"),
    ("POST", "/v1/tickets/{ticket_id}/start"): lambda api: _ticket(api, "called"),
    ("POST", "/v1/tickets/{ticket_id}/complete"): lambda api: _ticket(api, "serving"),
    ("POST", "/v1/tickets/{ticket_id}/no-show"): lambda api: _ticket(api, "called"),
    ("POST", "/v1/tickets/{ticket_id}/return"): lambda api: _ticket(api, "no_show"),
    ("POST", "/v1/tickets/{ticket_id}/cancel"): lambda api: _ticket(api, "waiting"),
    ("PATCH", "/v1/webhooks/endpoints/{endpoint_id}"): _endpoint,
    ("POST", "/v1/webhooks/endpoints/{endpoint_id}/rotate-secret"): _endpoint,
    ("POST", "/v1/webhooks/endpoints/{endpoint_id}/enable"): _endpoint,
    ("POST", "/v1/webhooks/endpoints/{endpoint_id}/disable"): _endpoint,
    ("POST", "/v1/webhooks/endpoints/{endpoint_id}/test"): _endpoint,  # 202: on its way
    ("PUT", "/v1/queues/{queue_id}/notification-settings"): lambda api: _queue(api, "open"),
    ("POST", "/v1/users/{user_id}/invite"): _invited,
    ("PATCH", "/v1/users/{user_id}"): _invited,
    ("POST", "/v1/keys/{key_id}/rotate"): _key,
    ("POST", "/v1/appointments/{appointment_id}/cancel"): _booking,
    ("POST", "/v1/appointments/{appointment_id}/check-in"): _booking,
}


def setups(settings: Settings) -> dict[tuple[str, str], Setup]:
    """COMMAND_SETUPS, and the routes of a person's own session (a person signed in for each
    request: signing out ends the session)."""
    return {
        **COMMAND_SETUPS,
        ("POST", "/v1/auth/logout"): _signed_in(settings),
        ("PATCH", "/v1/me"): _signed_in(settings),
        ("POST", "/v1/me/verify-email"): _signed_in(settings, verified=False),  # 202
        ("POST", "/v1/me/mfa/totp"): _signed_in(settings),  # 201: an enrolment to confirm
        ("POST", "/v1/queues/{queue_id}/staffing-plans"): _opened_once(settings),  # 202
        ("POST", "/v1/routing/tickets"): _routable(settings),
    }


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _schema(document, document["components"]["schemas"][name])
    return schema


def _needs_nothing(document: dict[str, Any], operation: dict[str, Any]) -> bool:
    """No request body, or one whose every variant has no required field."""
    body = operation.get("requestBody")
    if body is None:
        return True
    if "application/json" not in body["content"]:
        return False  # a form (RFC 8058's one-click, a provider's webhook): not a JSON command
    schema = _schema(document, body["content"]["application/json"]["schema"])
    variants = [_schema(document, s) for s in schema.get("anyOf", schema.get("oneOf", [schema]))]
    return all(not v.get("required") for v in variants if v.get("type") != "null")


async def test_every_command_without_required_fields_takes_nothing_three_ways(
    api: ApiClient, settings: Settings, topics: list[str]
) -> None:
    await delivery_topics(settings)  # a test ping goes to Kafka
    document = (await api.http.get("/openapi.json")).json()
    routes = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in ("post", "patch", "put") and _needs_nothing(document, operation)
    }
    every = setups(settings)
    assert routes == set(every), "say how to set up each command without required fields"
    for (method, path), setup in sorted(every.items()):
        for name, nothing in NOTHING.items():
            ids = await setup(api)
            url = path.format(**ids)
            auth = {"Authorization": f"Bearer {ids[BEARER]}"} if BEARER in ids else api.auth()
            headers = {**auth, **nothing.get("headers", {})}
            response = await api.http.request(
                method, url, headers=headers, content=nothing.get("content")
            )
            assert response.status_code in (200, 201, 202, 204), (method, path, name, response.text)


@pytest.mark.parametrize("body", [b'{"reason": "x"}', b"[]", b"0"])
async def test_a_command_without_fields_still_refuses_a_body_with_something_in_it(
    api: ApiClient, body: bytes
) -> None:
    ids = await _ticket(api, "called")
    response = await api.http.post(
        f"/v1/tickets/{ids['ticket_id']}/start",
        content=body,
        headers={**api.auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "/problems/validation"
