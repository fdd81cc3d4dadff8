"""The notification routes through the real API on a real PostgreSQL: subscriptions by a ticket's
token, at enqueue, templates, alerts, schedules and a queue's defaults (webhook endpoints:
test_notifications_webhooks_api.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx

from core.settings import Settings
from notifications.channels.vapid import application_server_key, vapid_keys
from notifications.schedules import next_occurrence
from notifications.store.db import Pool, fetch_all
from notifications.store.subscriptions import MAX_PER_ADDRESS
from tests.integration.conftest import ApiClient

PROBLEM = "application/problem+json"
PHONE = {"channel": "sms", "address": "+447700900123"}
PUSH_KEY = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
PUSH_SUBSCRIPTION: dict[str, Any] = {
    "endpoint": "https://fcm.googleapis.com/fcm/send/abc123",
    "keys": {"p256dh": PUSH_KEY, "auth": "tBHItJI5svbpez7KI4CCXg"},
}
PUSH = {"channel": "push", "push_subscription": PUSH_SUBSCRIPTION}


async def _ticket(api: ApiClient, queue_id: str, **body: Any) -> tuple[str, str]:
    ticket = (await api.enqueue(queue_id, **body))["ticket"]
    return str(ticket["ticket_id"]), str(ticket["token"])


async def _rules(pool: Pool, subscription_id: str) -> list[dict[str, Any]]:
    rows = await fetch_all(
        pool, "SELECT rules FROM subscriptions WHERE subscription_id = %s", (subscription_id,)
    )
    rules: list[dict[str, Any]] = rows[0][0]
    return rules


async def _confirmations(pool: Pool, subscription_ids: list[str]) -> list[str]:
    """The ids of the confirmations waiting to be sent for these subscriptions, in their order."""
    rows = await fetch_all(
        pool,
        "SELECT subscription_id::text, confirmation ->> 'id' FROM subscriptions"
        " WHERE subscription_id = ANY(%s::uuid[]) AND confirmation IS NOT NULL",
        (subscription_ids,),
    )
    found = dict(rows)
    return [found[i] for i in subscription_ids if i in found]


def _problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{kind}"
    return body


async def test_a_person_subscribes_with_the_tickets_token(api: ApiClient, pool: Pool) -> None:
    queue_id = await api.create_queue()
    ticket, token = await _ticket(api, queue_id)
    path = f"/v1/tickets/{ticket}/subscriptions"
    sms = await api.http.post(
        path,
        headers={"X-Ticket-Token": token},
        json={**PHONE, "when": {"ahead": 2, "eta_minutes": 5}},
    )
    assert sms.status_code == 201, sms.text
    made = sms.json()
    assert made["address"] == "+44770****123" and made["channel"] == "sms"
    assert made["queue_id"] == queue_id and made["language"] == "en"
    assert made["when"] == {
        "ahead": 2, "eta_minutes": 5, "called": True, "recalled": True, "returned": True,
        "missed": True, "moved": True, "paused": True, "resumed": True, "closed": True,
        "served": False, "cancelled": True, "subscribed": True,
    }  # fmt: skip
    assert await _rules(pool, made["subscription_id"]) == [
        {"kind": "ahead", "threshold": 2},
        {"kind": "eta", "threshold": 300},  # the notifier counts in seconds
        *({"kind": k, "threshold": None} for k in ("called", "recalled", "returned")),
        *({"kind": k, "threshold": None} for k in ("missed", "moved")),
        *({"kind": k, "threshold": None} for k in ("paused", "resumed", "closed")),
        {"kind": "cancelled", "threshold": None},
        {"kind": "subscribed", "threshold": None},  # told at once (when.subscribed)
    ]
    email = await api.http.post(
        path,
        headers={"X-Ticket-Token": token},
        json={"channel": "email", "address": "jane@example.com", "language": "fr",
              "when": {"ahead": None, "called": False, "served": True}},
    )  # fmt: skip
    assert email.status_code == 201, email.text
    assert email.json()["address"] == "j***@example.com"
    assert email.json()["when"]["ahead"] is None and email.json()["when"]["eta_minutes"] is None
    assert email.json()["when"]["served"] and not email.json()["when"]["called"]
    push = await api.http.post(path, headers={"X-Ticket-Token": token}, json=PUSH)
    assert push.status_code == 201 and push.json()["address"] == "push:fcm.googleapis.com"
    assert push.json()["when"]["ahead"] == 3  # the queue's default

    # The same channel and address again: the same subscription, with the new choices.
    again = await api.http.post(
        path, headers={"X-Ticket-Token": token}, json={**PHONE, "when": {"ahead": 1}}
    )
    assert again.json()["subscription_id"] == made["subscription_id"]
    assert again.json()["when"]["ahead"] == 1
    listed = await api.http.get(path, params={"token": token})
    assert listed.status_code == 200
    assert [s["channel"] for s in listed.json()["subscriptions"]] == ["sms", "email", "push"]
    assert "+447700900123" not in listed.text and "jane@" not in listed.text

    gone = await api.http.delete(
        f"{path}/{made['subscription_id']}", headers={"X-Ticket-Token": token}
    )
    assert gone.status_code == 204
    listed = await api.http.get(path, headers=api.auth("viewer"))  # a key of the tenant too
    assert len(listed.json()["subscriptions"]) == 2
    twice = await api.http.delete(
        f"{path}/{made['subscription_id']}", headers={"X-Ticket-Token": token}
    )
    _problem(twice, 404, "not-found")


async def test_who_may_subscribe(api: ApiClient) -> None:
    queue_id = await api.create_queue()
    ticket, _ = await _ticket(api, queue_id)
    other_ticket, other_token = await _ticket(api, queue_id)
    path = f"/v1/tickets/{ticket}/subscriptions"
    wrong = await api.http.post(path, headers={"X-Ticket-Token": other_token}, json=PHONE)
    _problem(wrong, 401, "unauthorized")
    _problem(await api.http.post(path, json=PHONE), 401, "unauthorized")
    _problem(await api.http.get(path, params={"token": other_token}), 401, "unauthorized")
    other_tenant = {"Authorization": f"Bearer {api.other_tenant_key}"}
    _problem(await api.http.post(path, headers=other_tenant, json=PHONE), 404, "not-found")
    _problem(await api.http.get(path, headers=other_tenant), 404, "not-found")
    unknown = f"/v1/tickets/{uuid.uuid4()}/subscriptions"
    _problem(await api.http.post(unknown, headers=api.auth(), json=PHONE), 404, "not-found")
    assert other_ticket != ticket


async def test_bad_addresses_are_422(api: ApiClient) -> None:
    queue_id = await api.create_queue()
    ticket, token = await _ticket(api, queue_id)
    path = f"/v1/tickets/{ticket}/subscriptions"
    for body in (
        {"channel": "sms", "address": "07700 900123"},
        {"channel": "whatsapp", "address": "+0447700900123"},
        {"channel": "sms", "address": "jane@example.com"},
        {"channel": "email", "address": "not an address"},
        {"channel": "email", "address": "jane@localhost"},
        {"channel": "push", "address": "+447700900123"},
        {**PUSH, "push_subscription": {**PUSH_SUBSCRIPTION, "endpoint": "ftp://x.test/"}},
        {**PUSH, "push_subscription": {**PUSH_SUBSCRIPTION, "keys": {"p256dh": "B", "auth": "x"}}},
        {"channel": "fax", "address": "+447700900123"},
        {**PHONE, "when": {"ahead": 10}},
        {**PHONE, "when": {"eta_minutes": 0}},
        {**PHONE, "language": "xx"},
    ):
        response = await api.http.post(path, headers={"X-Ticket-Token": token}, json=body)
        _problem(response, 422, "validation")
    # Push services are https; plain http only inside a network the operator allowed.
    for endpoint in ("http://push.example.com/x", "https://10.1.2.3/x", "https://127.0.0.1/x"):
        plain = {**PUSH, "push_subscription": {**PUSH_SUBSCRIPTION, "endpoint": endpoint}}
        response = await api.http.post(path, headers={"X-Ticket-Token": token}, json=plain)
        _problem(response, 409, "rule-violated")


async def test_a_ticket_that_left_is_409(api: ApiClient) -> None:
    queue_id = await api.create_queue()
    served, served_token = await _ticket(api, queue_id)
    cancelled, cancelled_token = await _ticket(api, queue_id)
    await api.post(f"/v1/queues/{queue_id}/call-next", "staff", json={"counter": "1"})
    for step in ("start", "complete"):
        assert (await api.post(f"/v1/tickets/{served}/{step}", "staff")).status_code == 200
    assert (await api.post(f"/v1/tickets/{cancelled}/cancel", "staff")).status_code == 200
    for ticket, token in ((served, served_token), (cancelled, cancelled_token)):
        response = await api.http.post(
            f"/v1/tickets/{ticket}/subscriptions", headers={"X-Ticket-Token": token}, json=PHONE
        )
        body = _problem(response, 409, "invalid-transition")
        assert "left" in body["detail"]


async def test_subscriptions_made_at_enqueue(api: ApiClient, pool: Pool) -> None:
    queue_id = await api.create_queue()
    put = await api.http.put(
        f"/v1/queues/{queue_id}/notification-settings",
        headers=api.auth(),
        json={"ahead": 5, "eta_minutes": 10, "feedback_url": "https://example.com/feedback"},
    )
    assert put.status_code == 200 and put.json()["ahead"] == 5, put.text
    notify = [PHONE, {"channel": "email", "address": "ada@example.com", "when": {"called": True}}]
    headers = {"Idempotency-Key": f"kiosk-{uuid.uuid4()}"}
    first = await api.post(
        f"/v1/queues/{queue_id}/tickets", "kiosk", json={"notify": notify}, headers=headers
    )
    assert first.status_code == 201, first.text
    ids = first.json()["subscriptions"]
    assert len(ids) == 2 and first.headers["location"].startswith("/v1/tickets/")
    assert await _rules(pool, ids[0]) == [
        {"kind": "ahead", "threshold": 5},
        {"kind": "eta", "threshold": 600},
        *({"kind": k, "threshold": None} for k in ("called", "recalled", "returned")),
        *({"kind": k, "threshold": None} for k in ("missed", "moved")),
        *({"kind": k, "threshold": None} for k in ("paused", "resumed", "closed")),
        {"kind": "cancelled", "threshold": None},
        {"kind": "subscribed", "threshold": None},  # told at once (when.subscribed)
    ]
    # Each waits for the notifier with its confirmation (`<subscription>:subscribed:1`).
    assert await _confirmations(pool, ids) == [f"{i}:subscribed:1" for i in ids]
    retry = await api.post(
        f"/v1/queues/{queue_id}/tickets", "kiosk", json={"notify": notify}, headers=headers
    )
    assert retry.json() == first.json() and retry.headers["idempotent-replayed"] == "true"
    assert await _confirmations(pool, ids) == [f"{i}:subscribed:1" for i in ids]  # no more
    ticket = first.json()["ticket"]
    listed = await api.http.get(
        f"/v1/tickets/{ticket['ticket_id']}/subscriptions", params={"token": ticket["token"]}
    )
    assert [s["subscription_id"] for s in listed.json()["subscriptions"]] == ids
    plain = await api.enqueue(queue_id)
    assert "subscriptions" not in plain  # an enqueue without `notify` answers as it always did
    too_many = await api.post(f"/v1/queues/{queue_id}/tickets", json={"notify": [PHONE] * 5})
    _problem(too_many, 422, "validation")


async def test_templates_are_checked_and_previewed(api: ApiClient) -> None:
    queue_id = await api.create_queue()
    body = {"topic": "ahead", "channel": "sms", "language": "en"}
    typo = await api.http.put(
        "/v1/templates", headers=api.auth(), json={**body, "body": "{{ numbr }} is close"}
    )
    problem = _problem(typo, 409, "rule-violated")  # the schema cannot say which names exist
    assert "numbr" in problem["detail"] and "number" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["body", "body"]
    broken = await api.http.put(
        "/v1/templates", headers=api.auth(), json={**body, "body": "{% if number %}open"}
    )
    assert "syntax" in _problem(broken, 409, "rule-violated")["detail"]
    mine = {**body, "queue_id": queue_id, "body": "{{ number }}: {{ people_ahead }} to go"}
    saved = await api.http.put("/v1/templates", headers=api.auth(), json=mine)
    assert saved.status_code == 200, saved.text
    assert saved.json()["queue_id"] == queue_id
    replaced = await api.http.put("/v1/templates", headers=api.auth(), json=mine)
    assert replaced.json()["template_id"] == saved.json()["template_id"]
    listed = await api.http.get("/v1/templates", headers=api.auth())
    assert [t["template_id"] for t in listed.json()["templates"]] == [saved.json()["template_id"]]

    preview = await api.http.post(
        "/v1/template-previews",
        headers=api.auth(),
        json={**body, "queue_id": queue_id, "data": {"people_ahead": 2}},
    )
    assert preview.status_code == 200, preview.text
    assert preview.json() == {"subject": None, "text": "A-042: 2 to go"}  # the stored one
    given = await api.http.post(
        "/v1/template-previews",
        headers=api.auth(),
        json={**body, "channel": "email", "subject": "Hi {{ number }}", "body": "{{ queue_name }}"},
    )
    assert given.json() == {"subject": "Hi A-042", "text": "Town Hall"}
    default = await api.http.post("/v1/template-previews", headers=api.auth(), json=body)
    assert "A-042" in default.json()["text"]  # the product's own words
    # The sample counter is a bare "2", as most are: the words say which kind of place it is.
    called = {"topic": "called", "channel": "sms", "language": "fr"}
    shown = await api.http.post("/v1/template-previews", headers=api.auth(), json=called)
    assert shown.json() == {"subject": None, "text": "A-042, c'est votre tour : guichet 2."}
    named = {**called, "data": {"counter": "Salle 4"}}
    shown = await api.http.post("/v1/template-previews", headers=api.auth(), json=named)
    assert shown.json()["text"] == "A-042, c'est votre tour : Salle 4."
    for counter in (3, True, None):  # any JSON value the data may give: a preview, not a 500
        odd = {**called, "data": {"counter": counter}}
        shown = await api.http.post("/v1/template-previews", headers=api.auth(), json=odd)
        assert shown.status_code == 200, shown.text
        assert ("guichet 3" in shown.json()["text"]) is (counter == 3), shown.text

    staff = await api.http.get("/v1/templates", headers=api.auth("staff"))
    _problem(staff, 403, "forbidden")
    other = {"Authorization": f"Bearer {api.other_tenant_key}"}
    _problem(await api.http.put("/v1/templates", headers=other, json=mine), 404, "not-found")
    queues = {"queue_id": queue_id}
    own = await api.http.get("/v1/templates", headers=api.auth(), params=queues)
    assert [t["template_id"] for t in own.json()["templates"]] == [saved.json()["template_id"]]
    _problem(await api.http.get("/v1/templates", headers=other, params=queues), 404, "not-found")
    path = f"/v1/templates/{saved.json()['template_id']}"
    _problem(await api.http.delete(path, headers=other), 404, "not-found")
    assert (await api.http.delete(path, headers=api.auth())).status_code == 204
    _problem(await api.http.delete(path, headers=api.auth()), 404, "not-found")


async def test_alerts(api: ApiClient) -> None:
    queue_id = await api.create_queue()
    email = await api.http.post(
        "/v1/alerts",
        headers=api.auth(),
        json={"condition": "p90_over_target", "queue_id": queue_id, "threshold": 600,
              "channel": "email", "address": "boss@example.com"},
    )  # fmt: skip
    assert email.status_code == 201, email.text
    assert email.json()["address"] == "boss@example.com" and email.json()["threshold"] == 600
    chat = await api.http.post(
        "/v1/alerts",
        headers=api.auth(),
        json={"condition": "delivery_failures", "channel": "chat",
              "address": "https://hooks.slack.example/services/TokenA/TokenB/TokenC"},
    )  # fmt: skip
    assert chat.status_code == 201 and chat.json()["address"] == "https://***"
    assert chat.json()["queue_id"] is None
    listed = await api.http.get("/v1/alerts", headers=api.auth())
    assert [a["alert_id"] for a in listed.json()["alerts"]] == [
        email.json()["alert_id"], chat.json()["alert_id"]
    ]  # fmt: skip
    assert "TokenA" not in listed.text
    for bad in (
        {"condition": "on_fire", "channel": "email", "address": "boss@example.com"},
        {"condition": "counter_idle", "channel": "chat", "address": "boss@example.com"},
        {"condition": "counter_idle", "channel": "email", "address": "slack://a/b"},
        {"condition": "counter_idle", "channel": "chat", "address": "slack://a/b"},
        {"condition": "counter_idle", "channel": "chat", "address": "https://u:p@chat.example/"},
        {"condition": "counter_idle", "channel": "chat", "address": "file:///etc/passwd"},
    ):
        _problem(await api.http.post("/v1/alerts", headers=api.auth(), json=bad), 422, "validation")
    # Called as webhooks are: nothing aimed inside is taken (it would only fail when it fires).
    for inside in ("http://127.0.0.1:9000/hook", "http://169.254.169.254/latest/meta-data",
                   "http://[64:ff9b::a9fe:a9fe]/", "http://localhost./"):  # fmt: skip
        refused = await api.http.post(
            "/v1/alerts",
            headers=api.auth(),
            json={"condition": "counter_idle", "channel": "chat", "address": inside},
        )
        _problem(refused, 409, "rule-violated")
        assert refused.json()["errors"][0]["loc"] == ["body", "address"]
    summary = {"queue_id": queue_id, "kind": "summary", "recurrence": "daily",
               "local_time": "18:00", "time_zone": "UTC", "channel": "chat",
               "address": "http://10.0.0.1/hook"}  # fmt: skip
    _problem(await api.http.post("/v1/schedules", headers=api.auth(), json=summary), 409,
             "rule-violated")  # fmt: skip
    other = {"Authorization": f"Bearer {api.other_tenant_key}"}
    path = f"/v1/alerts/{email.json()['alert_id']}"
    _problem(await api.http.delete(path, headers=other), 404, "not-found")
    assert (await api.http.delete(path, headers=api.auth())).status_code == 204
    _problem(await api.http.delete(path, headers=api.auth()), 404, "not-found")


async def test_schedules_compute_their_next_time(api: ApiClient) -> None:
    queue_id = await api.create_queue()
    before = datetime.now(UTC)
    daily = await api.http.post(
        "/v1/schedules",
        headers=api.auth(),
        json={"queue_id": queue_id, "kind": "summary", "recurrence": "daily",
              "local_time": "18:00", "time_zone": "Europe/Paris", "channel": "email",
              "address": "boss@example.com"},
    )  # fmt: skip
    assert daily.status_code == 201, daily.text
    next_at = datetime.fromisoformat(daily.json()["next_at"])
    expected = next_occurrence(
        "daily", local_time=time(18), at=None, time_zone="Europe/Paris", after=before
    )
    assert next_at == expected and daily.json()["local_time"] == "18:00"
    at = (before + timedelta(hours=2)).replace(microsecond=0)
    once = await api.http.post(
        "/v1/schedules",
        headers=api.auth(),
        json={"queue_id": queue_id, "kind": "announcement", "recurrence": "once",
              "at": at.isoformat(), "time_zone": "UTC", "text": "We close at 17:00 today"},
    )  # fmt: skip
    assert once.status_code == 201, once.text
    assert datetime.fromisoformat(once.json()["next_at"]) == at
    past = await api.http.post(
        "/v1/schedules",
        headers=api.auth(),
        json={"queue_id": queue_id, "kind": "announcement", "recurrence": "once",
              "at": "2020-01-01T09:00:00Z", "time_zone": "UTC", "text": "Too late"},
    )  # fmt: skip
    _problem(past, 409, "rule-violated")
    for bad in (
        {"queue_id": queue_id, "kind": "announcement", "recurrence": "once", "time_zone": "UTC",
         "text": "no moment"},
        {"queue_id": queue_id, "kind": "summary", "recurrence": "daily", "local_time": "25:00",
         "time_zone": "UTC", "channel": "email", "address": "boss@example.com"},
        {"queue_id": queue_id, "kind": "summary", "recurrence": "daily", "local_time": "18:00",
         "time_zone": "Mars/Olympus", "channel": "email", "address": "boss@example.com"},
        {"queue_id": queue_id, "kind": "summary", "recurrence": "daily", "local_time": "18:00",
         "time_zone": "UTC"},
    ):  # fmt: skip
        response = await api.http.post("/v1/schedules", headers=api.auth(), json=bad)
        _problem(response, 422, "validation")
    listed = await api.http.get("/v1/schedules", headers=api.auth())
    assert len(listed.json()["schedules"]) == 2
    other = {"Authorization": f"Bearer {api.other_tenant_key}"}
    theirs = {"queue_id": queue_id, "kind": "announcement", "recurrence": "daily",
              "local_time": "09:00", "time_zone": "UTC", "text": "Not your queue"}  # fmt: skip
    _problem(await api.http.post("/v1/schedules", headers=other, json=theirs), 404, "not-found")
    path = f"/v1/schedules/{daily.json()['schedule_id']}"
    _problem(await api.http.delete(path, headers=other), 404, "not-found")
    assert (await api.http.delete(path, headers=api.auth())).status_code == 204


async def test_a_queues_notification_settings(api: ApiClient) -> None:
    queue_id = await api.create_queue()
    path = f"/v1/queues/{queue_id}/notification-settings"
    found = await api.http.get(path, headers=api.auth())
    assert found.json() == {
        "queue_id": queue_id, "ahead": 3, "eta_minutes": None, "feedback_url": None
    }  # fmt: skip
    put = await api.http.put(path, headers=api.auth(), json={"ahead": 0, "eta_minutes": 15})
    assert put.json()["ahead"] == 0 and put.json()["eta_minutes"] == 15
    assert (await api.http.get(path, headers=api.auth())).json() == put.json()
    other = {"Authorization": f"Bearer {api.other_tenant_key}"}
    _problem(await api.http.get(path, headers=other), 404, "not-found")
    _problem(await api.http.put(path, headers=other, json={"ahead": 1}), 404, "not-found")
    bad = await api.http.put(path, headers=api.auth(), json={"feedback_url": "ftp://x"})
    _problem(bad, 422, "validation")


async def test_the_web_push_key_needs_no_api_key(api: ApiClient, settings: Settings) -> None:
    found = await api.http.get("/v1/push/vapid-public-key")
    assert found.status_code == 200, found.text
    assert found.json() == {"public_key": application_server_key(vapid_keys(settings))}


async def test_a_ticket_takes_at_most_four_live_subscriptions(api: ApiClient) -> None:
    """Whoever holds a ticket's token may subscribe: not to a hundred numbers (an SMS costs)."""
    queue_id = await api.create_queue()
    ticket, token = await _ticket(api, queue_id)
    path = f"/v1/tickets/{ticket}/subscriptions"
    made = []
    for n in range(4):
        body = {"channel": "sms", "address": f"+44770090010{n}"}
        answer = await api.http.post(path, headers={"X-Ticket-Token": token}, json=body)
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["subscription_id"])
    fifth = {"channel": "sms", "address": "+447700900109"}
    _problem(
        await api.http.post(path, headers={"X-Ticket-Token": token}, json=fifth),
        409,
        "rule-violated",
    )
    again = {"channel": "sms", "address": "+447700900100", "language": "fr"}  # the same one
    assert (
        await api.http.post(path, headers={"X-Ticket-Token": token}, json=again)
    ).status_code == 201
    cancelled = await api.http.delete(f"{path}/{made[1]}", headers={"X-Ticket-Token": token})
    assert cancelled.status_code == 204
    assert (
        await api.http.post(path, headers={"X-Ticket-Token": token}, json=fifth)
    ).status_code == 201


async def test_an_address_given_to_many_tickets_within_the_hour_is_refused(
    api: ApiClient, pool: Pool
) -> None:
    """Anybody at a kiosk may type anybody's address, and each ticket's `ahead` message goes at
    once on a short line: an address gets MAX_PER_ADDRESS tickets an hour, then a 429 that makes
    nothing (no ticket, no subscription) and says when there is room again."""
    queue_id = await api.create_queue()
    victim = [{"channel": "sms", "address": "+447700900999", "when": {"ahead": 9}}]
    keys = [{"Idempotency-Key": f"kiosk-{uuid.uuid4()}"} for _ in range(MAX_PER_ADDRESS)]
    made = [
        await api.post(
            f"/v1/queues/{queue_id}/tickets", "kiosk", json={"notify": victim}, headers=key
        )
        for key in keys
    ]
    assert [r.status_code for r in made] == [201] * MAX_PER_ADDRESS
    tokens = {r.json()["ticket"]["ticket_id"]: r.json()["ticket"]["token"] for r in made}
    for ticket_id, token in list(tokens.items())[:2]:  # cancelled tickets count all the same
        cancel = await api.http.post(
            f"/v1/tickets/{ticket_id}/cancel", headers={"X-Ticket-Token": token}
        )
        assert cancel.status_code == 200, cancel.text

    events = "SELECT count(*) FROM events WHERE stream_id = %s"
    before = await fetch_all(pool, events, (queue_id,))
    refused = await api.post(f"/v1/queues/{queue_id}/tickets", "kiosk", json={"notify": victim})
    problem = _problem(refused, 429, "rate-limited")
    assert "+447700900999" not in problem["detail"]  # a person's number stays out of answers
    assert 3500 < int(refused.headers["retry-after"]) <= 3600
    assert await fetch_all(pool, events, (queue_id,)) == before  # no ticket was made
    # A retry of a request that went through (its Idempotency-Key) is answered as it was.
    retried = await api.post(
        f"/v1/queues/{queue_id}/tickets", "kiosk", json={"notify": victim}, headers=keys[-1]
    )
    assert retried.status_code == 201 and retried.json() == made[-1].json(), retried.text
    rows = await fetch_all(
        pool, "SELECT count(*) FROM subscriptions WHERE address = %s", ("+447700900999",)
    )
    assert rows[0][0] == MAX_PER_ADDRESS

    # A ticket subscribing the same address by its token is refused too; one of the tickets it
    # already has subscribes again freely (that changes nothing); other addresses are not held.
    other_id, other_token = await _ticket(api, queue_id)
    by_token = await api.http.post(
        f"/v1/tickets/{other_id}/subscriptions",
        headers={"X-Ticket-Token": other_token},
        json=victim[0],
    )
    _problem(by_token, 429, "rate-limited")
    again_id, again_token = list(tokens.items())[-1]
    again = await api.http.post(
        f"/v1/tickets/{again_id}/subscriptions",
        headers={"X-Ticket-Token": again_token},
        json=victim[0],
    )
    assert again.status_code == 201, again.text
    fine = await api.http.post(
        f"/v1/tickets/{other_id}/subscriptions", headers={"X-Ticket-Token": other_token}, json=PHONE
    )
    assert fine.status_code == 201, fine.text
    # Per organisation: the same address in another tenant is its own.
    other = {"Authorization": f"Bearer {api.other_tenant_key}"}
    bank = await api.http.post(
        "/v1/queues", headers=other, json={"name": "Bank", "counters": ["1"]}
    )
    elsewhere = await api.http.post(
        f"/v1/queues/{bank.json()['queue_id']}/tickets", headers=other, json={"notify": victim}
    )
    assert elsewhere.status_code == 201, elsewhere.text
