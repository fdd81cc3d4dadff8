"""Webhook endpoints through the real API on a real PostgreSQL: secrets and their rotation, the
URLs refused, tenancy, the delivery log; and the test ping and replay on a real Kafka."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from psycopg.types.json import Jsonb

from core.settings import Settings
from deploy.topics import aensure_topics
from notifications.messages import Message
from notifications.store.db import Pool, changed
from notifications.store.endpoints import active_endpoints, disable_endpoint, get_endpoint
from tests.integration.conftest import ApiClient
from vq.api import create_app

PROBLEM = "application/problem+json"
ENDPOINTS = "/v1/webhooks/endpoints"


def _problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{kind}"
    return body


async def _endpoint(api: ApiClient, **body: Any) -> dict[str, Any]:
    made = await api.http.post(
        ENDPOINTS, headers=api.auth(), json={"url": "https://hooks.example.com/vq", **body}
    )
    assert made.status_code == 201, made.text
    found: dict[str, Any] = made.json()
    return found


async def test_endpoints_and_their_secrets(api: ApiClient, pool: Pool) -> None:
    made = await _endpoint(
        api,
        url="https://hooks.example.com:8443/in/t0ken?key=s3cret",
        description="CRM",
        event_types=["TicketCalled", "TicketPositionChanged"],
    )
    endpoint_id, secret = made["endpoint_id"], made["secret"]
    assert secret.startswith("whsec_") and made["rate_per_s"] == 50
    assert made["event_types"] == ["TicketCalled", "TicketPositionChanged"]
    one = await api.http.get(f"{ENDPOINTS}/{endpoint_id}", headers=api.auth())
    assert one.status_code == 200 and "secret" not in one.json()
    listed = await api.http.get(ENDPOINTS, headers=api.auth())
    assert [e["endpoint_id"] for e in listed.json()["endpoints"]] == [endpoint_id]
    assert secret not in listed.text and secret not in one.text
    shown = await api.http.get(f"{ENDPOINTS}/{endpoint_id}/secret", headers=api.auth())
    assert shown.json() == {
        "endpoint_id": endpoint_id, "secret": secret, "previous_secret_until": None
    }  # fmt: skip

    rotated = await api.http.post(f"{ENDPOINTS}/{endpoint_id}/rotate-secret", headers=api.auth())
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    until = datetime.fromisoformat(rotated.json()["previous_secret_until"])
    assert new != secret and new.startswith("whsec_")
    assert timedelta(hours=23) < until - datetime.now(UTC) <= timedelta(hours=24)
    stored = await get_endpoint(pool, api.tenant_id, endpoint_id)
    assert stored is not None
    assert stored.signing_secrets(datetime.now(UTC)) == [new, secret]  # both, while overlapping
    assert stored.signing_secrets(until + timedelta(seconds=1)) == [new]
    assert secret not in repr(stored) and new not in repr(stored)

    patched = await api.http.patch(
        f"{ENDPOINTS}/{endpoint_id}", headers=api.auth(), json={"event_types": [], "rate_per_s": 5}
    )
    assert patched.json()["event_types"] == [] and patched.json()["rate_per_s"] == 5
    assert patched.json()["description"] == "CRM"
    await changed(
        pool,
        "UPDATE webhook_endpoints SET disabled_at = now(), disabled_reason = '410' "
        "WHERE endpoint_id = %s",
        (endpoint_id,),
    )
    enabled = await api.http.post(f"{ENDPOINTS}/{endpoint_id}/enable", headers=api.auth())
    assert enabled.json()["disabled_at"] is None and enabled.json()["disabled_reason"] is None
    assert (
        await api.http.delete(f"{ENDPOINTS}/{endpoint_id}", headers=api.auth())
    ).status_code == 204
    gone = await api.http.get(f"{ENDPOINTS}/{endpoint_id}", headers=api.auth())
    _problem(gone, 404, "not-found")
    again = await api.http.post(f"{ENDPOINTS}/{endpoint_id}/rotate-secret", headers=api.auth())
    _problem(again, 404, "not-found")  # nothing done: nothing audited

    trail = await api.http.get(
        "/v1/audit", params={"action": "webhook.", "order": "oldest"}, headers=api.auth()
    )
    assert trail.status_code == 200, trail.text
    entries = trail.json()["entries"]
    assert [e["action"] for e in entries] == [
        "webhook.created", "webhook.secret_read", "webhook.secret_rotated", "webhook.changed",
        "webhook.enabled", "webhook.deleted",
    ]  # fmt: skip
    assert {e["subject"] for e in entries} == {f"webhook:{endpoint_id}"}
    (actor,) = {e["actor"] for e in entries}
    assert actor.startswith("key:")
    assert entries[0]["detail"] == {
        "origin": "https://hooks.example.com:8443",
        "event_types": ["TicketCalled", "TicketPositionChanged"],
    }
    assert entries[3]["detail"] == {"fields": ["event_types", "rate_per_s"]}
    # Neither secret, nor the receiver's own token in its URL's path or query.
    for kept_out in (secret, new, "t0ken", "s3cret"):
        assert kept_out not in trail.text


async def test_an_endpoint_disabled_by_hand(api: ApiClient, pool: Pool) -> None:
    endpoint_id = (await _endpoint(api))["endpoint_id"]
    kept = (await _endpoint(api, description="kept"))["endpoint_id"]
    disable = f"{ENDPOINTS}/{endpoint_id}/disable"
    viewer = await api.http.post(disable, headers=api.auth("viewer"))
    _problem(viewer, 403, "forbidden")
    assert [e.endpoint_id for e in await active_endpoints(pool, api.tenant_id)] == [
        endpoint_id, kept
    ]  # fmt: skip

    first = await api.http.post(disable, headers=api.auth())
    assert first.status_code == 200, first.text
    assert first.json()["disabled_at"] is not None
    assert first.json()["disabled_reason"].startswith("disabled by key:")
    # Deliveries stop as after an automatic disable: no new message goes to it, and the
    # delivery workers refuse what was on its way (they read `disabled_at`).
    assert [e.endpoint_id for e in await active_endpoints(pool, api.tenant_id)] == [kept]
    stored = await get_endpoint(pool, api.tenant_id, endpoint_id)
    assert stored is not None and stored.disabled
    again = await api.http.post(disable, headers=api.auth())  # idempotent: nothing changes
    assert again.status_code == 200 and again.json() == first.json()
    listed = (await api.http.get(ENDPOINTS, headers=api.auth())).json()["endpoints"]
    assert [e["disabled_at"] is not None for e in listed] == [True, False]

    enabled = await api.http.post(f"{ENDPOINTS}/{endpoint_id}/enable", headers=api.auth())
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["disabled_at"] is None and enabled.json()["disabled_reason"] is None
    assert len(await active_endpoints(pool, api.tenant_id)) == 2

    # Disabled by the deliveries (a 410) first: disabling by hand keeps why it stopped.
    assert await disable_endpoint(pool, endpoint_id, "the receiver answered 410 Gone")
    gone = await api.http.post(disable, headers=api.auth())
    assert gone.json()["disabled_reason"] == "the receiver answered 410 Gone"
    unknown = await api.http.post(f"{ENDPOINTS}/{uuid.uuid4()}/disable", headers=api.auth())
    _problem(unknown, 404, "not-found")
    # The viewer's refusal and the unknown endpoint are not in the trail (nothing was done).
    trail = await api.http.get(
        "/v1/audit", params={"action": "webhook.", "order": "oldest"}, headers=api.auth()
    )
    assert [e["action"] for e in trail.json()["entries"]] == [
        "webhook.created", "webhook.created", "webhook.disabled", "webhook.disabled",
        "webhook.enabled", "webhook.disabled",
    ]  # fmt: skip


async def test_urls_aimed_inside_are_refused(api: ApiClient) -> None:
    for url in (
        "http://127.0.0.1/",
        "http://10.0.0.1/hook",
        "https://[::1]:8443/",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:8080/",
        "http://2130706433/",  # 127.0.0.1, spelt as one number
    ):
        refused = await api.http.post(ENDPOINTS, headers=api.auth(), json={"url": url})
        assert "url" in _problem(refused, 409, "rule-violated")["errors"][0]["loc"], url
    for bad in (
        {"url": "ftp://hooks.example.com/"},
        {"url": "https://user:secret@hooks.example.com/"},  # credentials: sign, do not log in
        {"url": "https://x.com", "rate_per_s": 0},
    ):
        _problem(await api.http.post(ENDPOINTS, headers=api.auth(), json=bad), 422, "validation")
    unknown = {"url": "https://hooks.example.com/", "event_types": ["TicketTeleported"]}
    _problem(await api.http.post(ENDPOINTS, headers=api.auth(), json=unknown), 422, "validation")
    made = await _endpoint(api)
    patch = await api.http.patch(
        f"{ENDPOINTS}/{made['endpoint_id']}", headers=api.auth(), json={"url": "http://10.1.2.3/"}
    )
    _problem(patch, 409, "rule-violated")


async def test_an_allowed_network_may_be_used(settings: Settings) -> None:
    allowing = settings.model_copy(update={"outbound_allow": "10.0.0.0/8,127.0.0.0/8"})
    app = create_app(allowing)
    async with app.router.lifespan_context(app):
        _, admin = await app.state.services.directory.create_tenant("Lab")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vq.test") as http:
            auth = {"Authorization": f"Bearer {admin.secret}"}
            for url in ("http://10.0.0.1/hook", "http://127.0.0.1:9000/"):
                made = await http.post(ENDPOINTS, headers=auth, json={"url": url})
                assert made.status_code == 201, made.text
            refused = await http.post(ENDPOINTS, headers=auth, json={"url": "http://192.168.1.1/"})
            assert refused.status_code == 409


async def test_another_tenants_endpoint_is_not_found(api: ApiClient) -> None:
    made = await _endpoint(api)
    other = {"Authorization": f"Bearer {api.other_tenant_key}"}
    path = f"{ENDPOINTS}/{made['endpoint_id']}"
    for method, suffix, body in (
        ("GET", "", None),
        ("PATCH", "", {"description": "mine now"}),
        ("DELETE", "", None),
        ("GET", "/secret", None),
        ("POST", "/rotate-secret", None),
        ("POST", "/enable", None),
        ("POST", "/disable", None),
        ("POST", "/test", None),
        ("GET", "/deliveries", None),
        ("POST", "/replay", {"message_id": "msg_x"}),
    ):
        response = await api.http.request(method, path + suffix, headers=other, json=body)
        _problem(response, 404, "not-found")
    assert (await api.http.get(ENDPOINTS, headers=other)).json() == {"endpoints": []}
    staff = await api.http.get(path, headers=api.auth("staff"))
    _problem(staff, 403, "forbidden")


async def _delivery(pool: Pool, tenant_id: str, endpoint_id: str, **row: Any) -> Message:
    message = Message(
        id=row.get("message_id", f"msg_{uuid.uuid4().hex}"),
        tenant_id=tenant_id,
        channel="webhook",
        to=endpoint_id,
        topic="TicketCalled",
        created_at=row.get("created_at", datetime.now(UTC)),
        order_key=endpoint_id,
        data={"type": "TicketCalled"},
    )
    await changed(
        pool,
        """INSERT INTO deliveries (message_id, tenant_id, channel, destination, topic, message,
                                   status, attempts, last_error, created_at, delivered_at)
           VALUES (%s, %s, 'webhook', %s, %s, %s, %s, %s, %s, %s, %s)""",
        (message.id, tenant_id, endpoint_id, message.topic, Jsonb(json.loads(message.encode())),
         row["status"], len(row.get("attempts", [])), row.get("last_error"), message.created_at,
         row.get("delivered_at")),
    )  # fmt: skip
    for number, (outcome, status, excerpt) in enumerate(row.get("attempts", []), start=1):
        await changed(
            pool,
            """INSERT INTO delivery_attempts (message_id, attempt, at, outcome, status, seconds,
                                              excerpt) VALUES (%s, %s, %s, %s, %s, %s, %s)""",
            (message.id, number, message.created_at + timedelta(seconds=5 * number), outcome,
             status, 0.25, excerpt),
        )  # fmt: skip
    return message


async def test_the_delivery_log(api: ApiClient, pool: Pool) -> None:
    endpoint_id = (await _endpoint(api))["endpoint_id"]
    start = datetime.now(UTC) - timedelta(minutes=10)
    delivered = await _delivery(
        pool, api.tenant_id, endpoint_id, status="delivered", created_at=start,
        delivered_at=start + timedelta(seconds=10),
        attempts=[("failed", 500, "oops"), ("delivered", 200, "ok")],
    )  # fmt: skip
    dead = await _delivery(
        pool, api.tenant_id, endpoint_id, status="dead", created_at=start + timedelta(minutes=1),
        last_error="410 Gone", attempts=[("gone", 410, "gone")],
    )  # fmt: skip
    elsewhere = (await _endpoint(api))["endpoint_id"]
    await _delivery(pool, api.tenant_id, elsewhere, status="delivered", attempts=[])
    path = f"{ENDPOINTS}/{endpoint_id}/deliveries"
    log = await api.http.get(path, headers=api.auth())
    assert log.status_code == 200, log.text
    assert log.json()["endpoint_id"] == endpoint_id
    newest, oldest = log.json()["deliveries"]
    assert newest["message_id"] == dead.id and newest["status"] == "dead"
    assert newest["last_error"] == "410 Gone" and newest["delivered_at"] is None
    assert oldest == {
        "message_id": delivered.id,
        "topic": "TicketCalled",
        "status": "delivered",
        "attempts": 2,
        "created_at": oldest["created_at"],
        "delivered_at": oldest["delivered_at"],
        "last_error": None,
        "history": [
            {"replay": 0, "attempt": 1, "at": oldest["history"][0]["at"], "outcome": "failed", "status": 500,
             "seconds": 0.25, "excerpt": "oops"},
            {"replay": 0, "attempt": 2, "at": oldest["history"][1]["at"], "outcome": "delivered",
             "status": 200, "seconds": 0.25, "excerpt": "ok"},
        ],
    }  # fmt: skip
    assert datetime.fromisoformat(oldest["created_at"]) == start
    only_dead = await api.http.get(path, headers=api.auth(), params={"status": "dead"})
    assert [d["message_id"] for d in only_dead.json()["deliveries"]] == [dead.id]
    one = await api.http.get(path, headers=api.auth(), params={"limit": 1})
    assert len(one.json()["deliveries"]) == 1
    bad = await api.http.get(path, headers=api.auth(), params={"status": "lost"})
    _problem(bad, 422, "validation")


@pytest.fixture
async def webhook_topic(settings: Settings, topics: list[str]) -> AsyncIterator[str]:
    """The webhook channel's delivery topic (the `topics` fixture deletes it afterwards)."""
    name = settings.deliveries_topic("webhook")
    await aensure_topics(settings, [name], 1)
    yield name


async def _read(settings: Settings, topic: str, count: int) -> list[Message]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_servers, auto_offset_reset="earliest",
        enable_auto_commit=False, group_id=None,
    )  # fmt: skip
    await consumer.start()
    found: list[Message] = []
    try:
        for _ in range(150):
            if len(found) >= count:
                break
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(Message.decode(r.value) for r in records if r.value is not None)
    finally:
        await consumer.stop()
    return found


async def test_ping_and_replay_go_to_kafka(
    api: ApiClient, pool: Pool, settings: Settings, webhook_topic: str
) -> None:
    endpoint_id = (await _endpoint(api))["endpoint_id"]
    ping = await api.http.post(f"{ENDPOINTS}/{endpoint_id}/test", headers=api.auth())
    assert ping.status_code == 202, ping.text
    message_id = ping.json()["message_id"]
    assert message_id.startswith("msg_")
    dead = await _delivery(
        pool, api.tenant_id, endpoint_id, status="dead", attempts=[("failed", 500, "")]
    )
    path = f"{ENDPOINTS}/{endpoint_id}/replay"
    one = await api.http.post(path, headers=api.auth(), json={"message_id": dead.id})
    assert one.status_code == 202 and one.json() == {"replayed": 1}, one.text
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    everything = await api.http.post(path, headers=api.auth(), json={"since": since})
    assert everything.json() == {"replayed": 1}
    missing = await api.http.post(path, headers=api.auth(), json={"message_id": "msg_nothing"})
    _problem(missing, 404, "not-found")
    _problem(await api.http.post(path, headers=api.auth(), json={}), 422, "validation")

    sent = await _read(settings, webhook_topic, 3)
    assert [m.id for m in sent] == [message_id, dead.id, dead.id]
    test = sent[0]
    assert test.channel == "webhook" and test.to == endpoint_id and test.topic == "webhook.test"
    assert test.order_key == endpoint_id and test.tenant_id == api.tenant_id
    assert test.data["type"] == "webhook.test"
    assert test.data["data"] == {"endpoint_id": endpoint_id}
    assert datetime.fromisoformat(test.data["timestamp"]).tzinfo is not None
    assert test.data["timestamp"].endswith("Z")  # as every event's time is written
