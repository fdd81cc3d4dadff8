"""Notifications to people, end to end: subscriptions made at enqueue, the line moved through the
API, and each message arriving once at a real SMTP server, an SMS provider speaking Twilio's API
and a web push service that decrypts what it gets; then a poison message isolated in the dead
letters while the rest flows, and replayed with `vq notifications replay` once fixed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from core.settings import Settings
from deploy.topics import aensure_topics
from projections.layout import Keys
from tests.integration.conftest import PROVIDER_SID, PROVIDER_TOKEN, ApiClient
from tests.integration.kafka_support import json_records
from tests.integration.reach import pipeline_running, quiet_for, receiving, replay_dead
from tests.receivers.provider import ProviderReceiver
from tests.receivers.push import PushReceiver
from tests.receivers.smtp import SmtpReceiver

STARTUP_S = 40.0
# These tests count the rules' messages: no confirmation first (test_notifications_confirm.py).
UNASKED = {"subscribed": False}
SID, TOKEN = PROVIDER_SID, PROVIDER_TOKEN


@pytest.fixture
def settings(settings: Settings, smtp: SmtpReceiver, provider: ProviderReceiver) -> Settings:
    return receiving(settings, smtp, provider)


@pytest.fixture
async def pipeline(settings: Settings, topics: list[str]) -> AsyncIterator[None]:
    async with pipeline_running(settings):
        yield


async def _projected(settings: Settings, tenant_id: str, queue_id: str, ticket_id: str) -> None:
    """Until the read model shows the ticket (the notifier names queues and tickets from it)."""
    client = aioredis.Redis.from_url(settings.redis_dsn)
    key = Keys(settings.redis_prefix).ticket(tenant_id, queue_id, ticket_id)
    try:
        for _ in range(int(STARTUP_S * 10)):
            if await client.exists(key):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"the read model did not show {ticket_id} within {STARTUP_S:g} s")
    finally:
        await client.aclose()


async def test_each_message_arrives_once_in_order_with_the_right_words(
    api: ApiClient,
    smtp: SmtpReceiver,
    provider: ProviderReceiver,
    push: PushReceiver,
    pipeline: None,
) -> None:
    queue_id = await api.create_queue(name="X-ray", counters=["Room 4"])
    first = await api.enqueue(queue_id, priority="vip")
    for _ in range(4):
        await api.enqueue(queue_id)
    browser = push.subscribe()
    never = {"called": False, "recalled": False, "returned": False, "paused": False, **UNASKED}
    mine = await api.enqueue(
        queue_id,
        notify=[
            {"channel": "sms", "address": "+447700900123", "when": {"ahead": 3, **never}},
            {"channel": "email", "address": "ada@example.com", "when": {"ahead": None, **UNASKED}},
            {
                "channel": "push",
                "push_subscription": browser.info | {"expirationTime": None},
                "when": {"ahead": None, "eta_minutes": 120, **never},
            },
        ],
    )
    number = mine["ticket"]["number"]
    ticket_id = mine["ticket"]["ticket_id"]
    # The jump: from 5 ahead to 1 (a vip now, behind the first vip only).
    changed = await api.post(
        f"/v1/tickets/{ticket_id}/priority", json={"priority": "vip", "reason": "frail"}
    )
    assert changed.status_code == 200, changed.text
    [sms] = await provider.wait_for(1, STARTUP_S)
    assert sms.to == "+447700900123" and sms.body.startswith(f"{number}: 1 person ahead"), sms.body
    # The first vip is called, served, and then this ticket, at Room 4.
    for path in ("call-next", "start", "complete", "call-next"):
        url = (
            f"/v1/queues/{queue_id}/call-next"
            if path == "call-next"
            else f"/v1/tickets/{first['ticket']['ticket_id']}/{path}"
        )
        body = {"counter": "Room 4"} if path == "call-next" else {}
        moved = await api.post(url, json=body)
        assert moved.status_code == 200, moved.text
    assert moved.json()["ticket"]["ticket_id"] == ticket_id
    [mail] = await smtp.wait_for(1, STARTUP_S)
    assert mail.rcpt_tos == ("ada@example.com",)
    text = mail.message.get_content()
    assert number in text and "Room 4" in text, text
    [pushed] = await push.wait_for(1, STARTUP_S)
    assert number in json.loads(pushed.plaintext)["body"]
    await quiet_for()
    assert len(provider.messages) == 1, [m.body for m in provider.messages]
    assert len(smtp.messages) == 1 and len(push.deliveries) == 1


async def test_a_poison_message_goes_to_the_dead_letters_and_is_replayed_once_fixed(
    api: ApiClient, settings: Settings, provider: ProviderReceiver, pipeline: None
) -> None:
    # A template that cannot render a message for a ticket with exactly 2 people ahead.
    poison = "{{ number }}: {{ 60 // (people_ahead - 2) }} to go"
    put = await api.http.put(
        "/v1/templates",
        headers=api.auth(),
        json={"topic": "ahead", "channel": "sms", "language": "en", "body": poison},
    )
    assert put.status_code in (200, 201), put.text
    queue_id = await api.create_queue()
    numbers = []
    for index in range(6):
        made = await api.enqueue(
            queue_id,
            notify=[
                {
                    "channel": "sms",
                    "address": f"+4477009001{index:02d}",
                    "when": {"ahead": 9, **UNASKED},
                }
            ],
        )
        numbers.append(made["ticket"]["number"])
    # Five arrive promptly (the one behind the poison too), the poison after its last attempt.
    arrived = await provider.wait_for(5, STARTUP_S)
    assert sorted(m.to for m in arrived) == sorted(
        f"+4477009001{i:02d}" for i in range(6) if i != 2
    )
    dead = await json_records(settings, settings.dead_letter_topic, at_least=1, timeout=STARTUP_S)
    # The dead letter names the subscription, not the number: no topic keeps a person's address.
    assert dead[0]["to"] == "" and dead[0]["data"]["number"] == numbers[2]
    fixed = "{{ number }}: {{ people_ahead }} ahead"
    put = await api.http.put(
        "/v1/templates",
        headers=api.auth(),
        json={"topic": "ahead", "channel": "sms", "language": "en", "body": fixed},
    )
    assert put.status_code in (200, 201), put.text
    await asyncio.sleep(6)  # the workers' template cache (a few seconds) forgets the old one
    replayed = replay_dead(settings)
    assert "replayed 1 message" in replayed, replayed
    arrived = await provider.wait_for(6, STARTUP_S)
    assert arrived[-1].to == "+447700900102"
    assert arrived[-1].body == f"{numbers[2]}: 2 ahead"
    # The log keeps the first round's attempts beside the replay's. The provider had the text
    # before the worker recorded the attempt (notifications/delivery.py, Deliverer.handle sends,
    # then settles): the log is read until it has the replay's attempt.
    tried = await _attempts(settings, dead[0]["id"], until=(1, 1, "delivered"))
    assert tried == [(0, n, "failed") for n in (1, 2, 3, 4)] + [(1, 1, "delivered")]


async def _attempts(
    settings: Settings, message_id: str, until: tuple[int, int, str], timeout: float = 10.0
) -> list[tuple[Any, ...]]:
    """The message's attempts (replay, attempt, outcome), once `until` is among them (or after
    `timeout` seconds, as they are then)."""
    deadline = asyncio.get_running_loop().time() + timeout
    options = f"-c search_path={settings.db_schema}"
    while True:
        with psycopg.connect(settings.pg_url, options=options) as conn:
            tried = conn.execute(
                "SELECT replay, attempt, outcome FROM delivery_attempts WHERE message_id = %s"
                " ORDER BY replay, attempt",
                (message_id,),
            ).fetchall()
        if until in tried or asyncio.get_running_loop().time() > deadline:
            return tried
        await asyncio.sleep(0.1)


async def test_records_the_notifier_cannot_decode_are_passed_over_and_the_rest_flows(
    api: ApiClient, settings: Settings, provider: ProviderReceiver, pipeline: None
) -> None:
    """A record on the events or positions topic that is not what the topic's contract says
    (another producer's, a torn write) is skipped with a warning: the queue's later records
    still make their messages (it stopped the notifier for good)."""
    # The workers put the events topic's on its dead-letter topic (as `vq stack up` makes it).
    dead = settings.events_dead_letter_topic
    await aensure_topics(settings, [dead], settings.kafka_partitions)
    queue_id = await api.create_queue()
    garbage = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers)
    await garbage.start()
    try:
        for topic in (settings.events_topic, settings.positions_topic):
            # The queue's own key: the partition its later records follow on.
            await garbage.send_and_wait(topic, b"\x00not a record", key=queue_id.encode())
    finally:
        await garbage.stop()
    for index in range(2):
        await api.enqueue(
            queue_id,
            notify=[
                {
                    "channel": "sms",
                    "address": f"+4477009003{index:02d}",
                    "when": {"ahead": 9, **UNASKED},
                }
            ],
        )
    arrived = await provider.wait_for(2, STARTUP_S)
    assert sorted(m.to for m in arrived) == ["+447700900300", "+447700900301"]


async def test_the_words_people_read_name_their_ticket_counter_and_organisation(
    api: ApiClient,
    settings: Settings,
    smtp: SmtpReceiver,
    provider: ProviderReceiver,
    pipeline: None,
) -> None:
    """The pause and the resumption are told under the ticket's number; the call names the
    counter as a counter; after service come the queue's feedback link and, in the email, the
    organisation's signature (each was missing: found by the reach probe)."""
    queue_id = await api.create_queue(name="Passports", counters=["1"])
    feedback = "https://clinic.example/feedback?q=passports"
    settings_path = f"/v1/queues/{queue_id}/notification-settings"
    put = await api.http.put(settings_path, headers=api.auth(), json={"feedback_url": feedback})
    assert put.status_code == 200 and put.json()["feedback_url"] == feedback, put.text
    first = await api.enqueue(queue_id)
    silent = {k: False for k in ("called", "recalled", "returned", "paused", "resumed", "closed")}
    sms = {"channel": "sms", "address": "+33612345678", "language": "fr"}
    email = {"channel": "email", "address": "bob@example.org"}
    mine = await api.enqueue(
        queue_id,
        notify=[
            {**sms, "when": {"ahead": None, "served": True, **UNASKED}},
            {**email, "when": {"ahead": None, **silent, "served": True, **UNASKED}},
        ],
    )
    number, ticket_id = mine["ticket"]["number"], mine["ticket"]["ticket_id"]
    await _projected(settings, api.tenant_id, queue_id, ticket_id)
    for step, count in (("pause", 1), ("resume", 2)):
        done = await api.post(f"/v1/queues/{queue_id}/{step}", json={})
        assert done.status_code == 200, done.text
        await provider.wait_for(count, STARTUP_S)
    for ticket, count in ((first["ticket"]["ticket_id"], 2), (ticket_id, 3)):
        called = await api.post(f"/v1/queues/{queue_id}/call-next", json={"counter": "1"})
        assert called.json()["ticket"]["ticket_id"] == ticket, called.text
        # Before the visit ends: "it's your turn" is not sent once "thank you" is there.
        await provider.wait_for(count, STARTUP_S)
        for path in ("start", "complete"):
            moved = await api.post(f"/v1/tickets/{ticket}/{path}", json={})
            assert moved.status_code == 200, moved.text
    texts = [m.body for m in await provider.wait_for(4, STARTUP_S)]
    assert texts == [
        f"{number} : Passports est momentanément en pause. Vous gardez votre place ; nous vous"
        " préviendrons dès que la file avancera.",
        f"{number} : Passports a repris. Vous gardez votre place dans la file.",
        f"{number}, c'est votre tour : guichet 1.",
        f"{number} : merci de votre visite à Passports. Votre avis nous intéresse : {feedback}",
    ]
    [mail] = await smtp.wait_for(1, STARTUP_S)
    assert mail.message["Subject"] == "Thank you for visiting Passports"
    text = mail.message.get_content()
    assert f"How did it go? Tell us: {feedback}" in text, text
    # Signed by the organisation, then the way to stop these messages (its opt-out link).
    signed, _, last = text.rstrip().rpartition("\n\n")
    assert signed.endswith("\n\nClinic") and last.startswith("Stop these messages: http"), text
    await quiet_for()
    assert len(provider.messages) == 4 and len(smtp.messages) == 1
