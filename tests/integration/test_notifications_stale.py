"""Messages that stopped being true are not sent, and the ticket's token stays off the topics.

End to end, with the real pipeline (stream workers, the notifier's stages, the SMS provider and
SMTP receivers): a message whose first attempt failed is checked again when it is retried or
replayed, and dropped (`obsolete` in the delivery log) once the ticket was called or served or
the person unsubscribed; the link in what the person receives opens the ticket (its token in the
fragment) while no topic record and no stored message holds the token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer

from core.settings import Settings
from tests.integration.conftest import ApiClient
from tests.integration.reach import pipeline_running, receiving, replay_dead
from tests.receivers.provider import ProviderReceiver
from tests.receivers.smtp import SmtpReceiver

STARTUP_S = 40.0
NUMBER = "+447700900200"
# Retries a second apart, seven of them: a failing message is still being retried while the line
# moves on, as it would be for minutes with the production schedule.
SCHEDULE = "0.5,1,1,1,1,1,1"
ALL_FAIL = 1_000  # requests the provider refuses until it is told to stop


@pytest.fixture
def settings(settings: Settings, smtp: SmtpReceiver, provider: ProviderReceiver) -> Settings:
    return receiving(settings, smtp, provider, delivery_schedule=SCHEDULE)


@pytest.fixture
async def pipeline(settings: Settings, topics: list[str]) -> AsyncIterator[None]:
    async with pipeline_running(settings):
        yield


def _db(settings: Settings) -> psycopg.Connection[Any]:
    return psycopg.connect(
        settings.pg_url, autocommit=True, options=f"-c search_path={settings.db_schema}"
    )


async def _until(check: Callable[[], bool], what: str, timeout: float = STARTUP_S) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {what} within {timeout:g} s")
        await asyncio.sleep(0.1)


def _watch_status(settings: Settings, subscription_id: str) -> str | None:
    """The ticket's status as the notifier's watch last saw it."""
    with _db(settings) as conn:
        row = conn.execute(
            "SELECT watch ->> 'status' FROM subscriptions WHERE subscription_id = %s",
            (subscription_id,),
        ).fetchone()
    return None if row is None else row[0]


def _log(settings: Settings, subscription_id: str, rule: str) -> list[tuple[str, list[str]]]:
    """Each message of a rule to the subscription: its status and its attempts' outcomes."""
    with _db(settings) as conn:
        rows = conn.execute(
            """SELECT d.status, array_agg(a.outcome ORDER BY a.replay, a.attempt)
               FROM deliveries d JOIN delivery_attempts a USING (message_id)
               WHERE d.destination = %s AND d.topic = %s
               GROUP BY d.message_id, d.status ORDER BY d.message_id""",
            (subscription_id, rule),
        ).fetchall()
    return [(status, list(outcomes)) for status, outcomes in rows]


# A message whose attempt is still to be made or recorded (retried, replayed, or being sent).
ON_ITS_WAY = ("sending", "retrying", "replaying")


async def _settled(
    settings: Settings, subscription_id: str, rule: str, timeout: float = 10.0
) -> list[tuple[str, list[str]]]:
    """`_log`, once no message of it is on its way (or after `timeout` seconds, as it is then):
    the delivery worker records an attempt after making it (notifications/delivery.py,
    Deliverer.handle), so a retry or replay tried by now may not be in the log yet."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        log = _log(settings, subscription_id, rule)
        settled = bool(log) and all(status not in ON_ITS_WAY for status, _ in log)
        if settled or asyncio.get_running_loop().time() > deadline:
            return log
        await asyncio.sleep(0.1)


def _status(settings: Settings, subscription_id: str, rule: str) -> str | None:
    """The status of the (first) message of a rule to the subscription, once it was tried."""
    return next((status for status, _ in _log(settings, subscription_id, rule)), None)


def _refused(provider: ProviderReceiver, number: str) -> int:
    return sum(1 for r in provider.requests if r.form.get("To") == number and r.status >= 500)


def _texts(provider: ProviderReceiver, number: str) -> list[str]:
    return [m.body for m in provider.messages if m.to == number]


async def _line(api: ApiClient, *, others: int, when: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A queue with `others` ahead of a ticket that subscribed by SMS (without the confirmation
    at once: these tests count and fail the rules' messages)."""
    queue_id = await api.create_queue(name="Passports", counters=["Counter 3"])
    for _ in range(others):
        await api.enqueue(queue_id)
    when = {**when, "subscribed": False}
    mine = await api.enqueue(queue_id, notify=[{"channel": "sms", "address": NUMBER, "when": when}])
    return queue_id, mine


async def _serve_next(api: ApiClient, queue_id: str, *, finish: bool = True) -> str:
    """Call the next ticket (and serve it); its id."""
    called = await api.post(f"/v1/queues/{queue_id}/call-next", json={"counter": "Counter 3"})
    assert called.status_code == 200, called.text
    ticket_id = str(called.json()["ticket"]["ticket_id"])
    for step in ("start", "complete") if finish else ():
        moved = await api.post(f"/v1/tickets/{ticket_id}/{step}", json={})
        assert moved.status_code == 200, moved.text
    return ticket_id


async def test_a_retried_ahead_message_is_dropped_once_the_ticket_was_called(
    api: ApiClient, settings: Settings, provider: ProviderReceiver, pipeline: None
) -> None:
    """The probe's first finding: "3 ahead" failed, the person was called ("it's your turn")
    and the retry of "3 ahead" came after it. Now the person gets "it's your turn" only."""
    queue_id, mine = await _line(api, others=4, when={"ahead": 3})
    subscription_id = mine["subscriptions"][0]
    provider.fail_next(ALL_FAIL, 500)
    await _serve_next(api, queue_id)  # 3 ahead now: the message is made, and fails
    await _until(lambda: _refused(provider, NUMBER) >= 1, "failed attempt")
    for _ in range(3):
        await _serve_next(api, queue_id)
    assert await _serve_next(api, queue_id, finish=False) == mine["ticket"]["ticket_id"]
    await _until(lambda: _watch_status(settings, subscription_id) == "called", "call seen")
    provider.clear_failures()
    await _until(lambda: any("Counter 3" in t for t in _texts(provider, NUMBER)), "your turn")
    await asyncio.sleep(3)  # two more retries' time: the "3 ahead" would have come by now
    texts = _texts(provider, NUMBER)
    assert len(texts) == 1 and "Counter 3" in texts[0], texts  # "it's your turn" only
    [(status, outcomes)] = await _settled(settings, subscription_id, "ahead")
    assert status == "obsolete" and outcomes[-1] == "obsolete", outcomes
    assert set(outcomes[:-1]) == {"failed"}


async def test_a_cancelled_subscriptions_pending_retry_is_not_sent(
    api: ApiClient, settings: Settings, provider: ProviderReceiver, pipeline: None
) -> None:
    """The probe's second: the person unsubscribed (204) while "3 ahead" waited for its retry,
    and the provider still got it."""
    queue_id, mine = await _line(api, others=4, when={"ahead": 3})
    ticket, subscription_id = mine["ticket"], mine["subscriptions"][0]
    provider.fail_next(ALL_FAIL, 500)
    await _serve_next(api, queue_id)
    await _until(lambda: _refused(provider, NUMBER) >= 1, "failed attempt")
    stopped = await api.http.delete(
        f"/v1/tickets/{ticket['ticket_id']}/subscriptions/{subscription_id}",
        headers={"X-Ticket-Token": ticket["token"]},
    )
    assert stopped.status_code == 204, stopped.text
    provider.clear_failures()
    await asyncio.sleep(3)  # two retries' time: the "3 ahead" would have come by now
    assert _texts(provider, NUMBER) == []
    [(status, outcomes)] = await _settled(settings, subscription_id, "ahead")
    assert status == "obsolete" and outcomes[-1] == "obsolete", outcomes


async def test_a_replay_of_a_dead_ahead_message_for_a_served_ticket_is_not_sent(
    api: ApiClient, settings: Settings, provider: ProviderReceiver, pipeline: None
) -> None:
    """The probe's third: `vq notifications replay --dead` texted "you're next" to a person
    whose ticket had been served."""
    queue_id, mine = await _line(
        api, others=1, when={"ahead": 0, "called": False, "recalled": False}
    )
    subscription_id = mine["subscriptions"][0]
    # A refusal the provider means for good: the message is dead at its first attempt.
    provider.fail_next(1, 400, code=21211, message="The 'To' number is not a valid phone number")
    await _serve_next(api, queue_id)  # nobody ahead now: "you're next" is made, and refused
    await _until(lambda: _log(settings, subscription_id, "ahead") == [("dead", ["refused"])],
                 "dead letter")  # fmt: skip
    assert await _serve_next(api, queue_id) == mine["ticket"]["ticket_id"]
    await _until(lambda: _watch_status(settings, subscription_id) == "served", "service seen")
    replayed = replay_dead(settings)
    assert "replayed 1 message" in replayed, replayed
    await asyncio.sleep(3)  # the replayed message has been tried by now
    assert _texts(provider, NUMBER) == []
    settled = await _settled(settings, subscription_id, "ahead")
    assert settled == [("obsolete", ["refused", "obsolete"])]


async def _topic_bytes(settings: Settings) -> list[bytes]:
    """Every record's value and header values on the pipeline's topics, raw."""
    consumer = AIOKafkaConsumer(
        *settings.delivery_topics,
        bootstrap_servers=settings.kafka_servers,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[bytes] = []
    try:
        async with asyncio.timeout(STARTUP_S):
            # Until every topic was read to its end: a fetch with nothing new, after some came.
            while (batches := await consumer.getmany(timeout_ms=2000)) or not found:
                for batch in batches.values():
                    for record in batch:
                        found += [record.value or b"", *(value for _, value in record.headers)]
    finally:
        await consumer.stop()
    return found


def _stored(settings: Settings) -> str:
    """Every row of the delivery state, as text (messages, attempts, answers, errors)."""
    with _db(settings) as conn:
        rows = conn.execute(
            """SELECT (SELECT string_agg(d::text, ' ') FROM deliveries d),
                      (SELECT string_agg(a::text, ' ') FROM delivery_attempts a)"""
        ).fetchone()
    assert rows is not None
    return " ".join(part or "" for part in rows)


async def _stored_once(settings: Settings, having: str, timeout: float = 10.0) -> str:
    """`_stored`, once it holds `having` (or after `timeout` seconds, as it is then)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while having not in (stored := _stored(settings)):
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.1)
    return stored


async def test_the_ticket_token_is_in_what_the_person_gets_and_nowhere_on_the_way(
    api: ApiClient,
    settings: Settings,
    provider: ProviderReceiver,
    smtp: SmtpReceiver,
    pipeline: None,
) -> None:
    queue_id = await api.create_queue(name="Passports", counters=["Counter 3"])
    for _ in range(4):
        await api.enqueue(queue_id)
    mine = await api.enqueue(
        queue_id,
        notify=[
            {"channel": "sms", "address": NUMBER, "when": {"ahead": 3, "subscribed": False}},
            {
                "channel": "email",
                "address": "ada@example.com",
                "when": {"ahead": 3, "subscribed": False},
            },
        ],
    )
    ticket_id, token = mine["ticket"]["ticket_id"], mine["ticket"]["token"]
    link = f"{settings.public_url.rstrip('/')}/t/{ticket_id}#token={token}"
    provider.fail_next(1, 500)  # a retry record too, and an attempt's answer in the log
    await _serve_next(api, queue_id)
    [sms] = await provider.wait_for(1, STARTUP_S)
    assert sms.body.endswith(link), sms.body
    [mail] = await smtp.wait_for(1, STARTUP_S)
    assert link in mail.message.get_content()
    records = await _topic_bytes(settings)
    assert any(f"/t/{ticket_id}".encode() in raw for raw in records)  # the page, tokenless
    assert [raw for raw in records if token.encode() in raw] == []
    # The SMS's answer is recorded after the provider had the text (Deliverer.handle settles
    # after sending): the state is read until it has it.
    stored = await _stored_once(settings, f"/t/{ticket_id}#token=***")
    assert f"/t/{ticket_id}" in stored  # the message
    assert f"/t/{ticket_id}#token=***" in stored  # the provider's answer echoes the text
    assert token not in stored
