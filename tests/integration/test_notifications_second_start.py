"""Two defects of messages to people, through the real pipeline (API, read side, the notifier's
stages, the local SMS provider of tests/receivers/):

* a subscription made again after it was cancelled (a DELETE, an unsubscribe link, a STOP) is a
  new consent and is confirmed again ("you're in line at ..."), its watch starting over as a new
  subscription's; subscribing again to a live one confirms nothing (found by a probe: the
  confirmation was `<subscription>:subscribed:1` for ever, and the revived one got none);
* "you missed your turn; back by 10:45" that failed and is retried after 10:45 is not sent, and
  the delivery log says why (found by the same probe: it was sent).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from core.settings import Settings
from notifications.confirmation import Addressee, Subscribed, confirmation
from notifications.messages import Message
from notifications.rules import Moment
from notifications.store.db import Pool
from notifications.store.subscriptions import (
    Subscription,
    cancel_subscription,
    create_subscription,
)
from tests.integration.conftest import ApiClient
from tests.integration.reach import pipeline_running, quiet_for, receiving, until
from tests.receivers.provider import ProviderReceiver
from tests.receivers.smtp import SmtpReceiver

STARTUP_S = 40.0
NUMBER = "+447700900601"
STOP = " Reply STOP to stop."
# Retries a second apart, long enough to outlast a 6-second grace period.
SCHEDULE = "0.5" + ",1" * 12
GRACE_S = 6
ALL_FAIL = 1_000
COUNTERS = ["1", "2", "3", "4", "5"]


@pytest.fixture
def settings(settings: Settings, smtp: SmtpReceiver, provider: ProviderReceiver) -> Settings:
    return receiving(settings, smtp, provider, delivery_schedule=SCHEDULE)


@pytest.fixture
async def pipeline(settings: Settings, topics: list[str]) -> AsyncIterator[None]:
    async with pipeline_running(settings):
        yield


def _token(ticket: dict[str, Any]) -> dict[str, str]:
    return {"token": str(ticket["token"])}


async def _until_ahead(api: ApiClient, ticket: dict[str, Any], people: int) -> None:
    """Until the ticket's page shows `people` ahead (the read side has caught up)."""
    page = f"/v1/tickets/{ticket['ticket_id']}"

    async def ahead() -> int | None:
        got = await api.http.get(page, params=_token(ticket))
        return got.json()["people_ahead"] if got.status_code == 200 else None

    for _ in range(int(STARTUP_S * 10)):
        if await ahead() == people:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the ticket's page did not show {people} ahead within {STARTUP_S:g} s")


async def _subscribe(api: ApiClient, ticket: dict[str, Any], when: dict[str, Any]) -> str:
    made = await api.http.post(
        f"/v1/tickets/{ticket['ticket_id']}/subscriptions",
        headers={"X-Ticket-Token": ticket["token"]},
        json={"channel": "sms", "address": NUMBER, "when": when},
    )
    assert made.status_code == 201, made.text
    return str(made.json()["subscription_id"])


async def _call_next(api: ApiClient, queue_id: str, counter: str) -> str:
    """Call the next ticket at `counter` (one each: a counter's called person is not done)."""
    called = await api.post(f"/v1/queues/{queue_id}/call-next", json={"counter": counter})
    assert called.status_code == 200, called.text
    return str(called.json()["ticket"]["ticket_id"])


def _texts(provider: ProviderReceiver) -> list[str]:
    return [m.body for m in provider.messages if m.to == NUMBER]


async def test_a_subscription_made_again_after_it_was_cancelled_is_confirmed_again(
    api: ApiClient, provider: ProviderReceiver, pipeline: None
) -> None:
    queue_id = await api.create_queue(name="Passports", counters=COUNTERS)
    for _ in range(4):
        await api.enqueue(queue_id)
    ticket = (await api.enqueue(queue_id))["ticket"]
    await _until_ahead(api, ticket, 4)
    when = {"ahead": 2, "eta_minutes": None}
    first = await _subscribe(api, ticket, when)
    await until(lambda: len(_texts(provider)) == 1, STARTUP_S, "first confirmation")
    assert _texts(provider)[0].startswith(f"{ticket['number']}: you're in line at Passports, 4")

    stopped = await api.http.delete(
        f"/v1/tickets/{ticket['ticket_id']}/subscriptions/{first}",
        headers={"X-Ticket-Token": ticket["token"]},
    )
    assert stopped.status_code == 204, stopped.text
    # While it is stopped the line moves within the threshold: nothing is told...
    for counter in COUNTERS[:2]:
        await _call_next(api, queue_id, counter)
    await _until_ahead(api, ticket, 2)
    # ...and the subscription made again is the same one, confirmed again with the place now.
    assert await _subscribe(api, ticket, when) == first
    await until(lambda: len(_texts(provider)) == 2, STARTUP_S, "second confirmation")
    again = _texts(provider)[1]
    assert again.startswith(f"{ticket['number']}: you're in line at Passports, 2 ahead"), again
    assert again.endswith(STOP), again
    # Subscribing again to the live subscription (a retried request) confirms nothing.
    assert await _subscribe(api, ticket, when) == first
    # As for a new subscription: the place told counts as the `ahead` crossing (no "1 ahead").
    await _call_next(api, queue_id, COUNTERS[2])
    await _until_ahead(api, ticket, 1)
    await quiet_for(2.5)
    assert len(_texts(provider)) == 2, _texts(provider)
    # The rules still speak: "it's your turn".
    await _call_next(api, queue_id, COUNTERS[3])
    assert await _call_next(api, queue_id, COUNTERS[4]) == ticket["ticket_id"]
    await until(lambda: len(_texts(provider)) == 3, STARTUP_S, "your turn")
    assert _texts(provider)[2].startswith(f"{ticket['number']}, it's your turn"), _texts(provider)
    await quiet_for(2.5)
    assert len(_texts(provider)) == 3, _texts(provider)


async def test_a_restarted_watch_keeps_its_crossings_and_numbers_its_confirmations(
    pool: Pool, tenant_id: str
) -> None:
    """The store's side: the message ids of the rules go on from where they were (a "2 ahead"
    made again as `:ahead-2:1` would be taken for the one sent before the STOP, and not sent),
    and each start's confirmation has its own id."""
    ticket = Subscribed(tenant_id, str(uuid.uuid4()), str(uuid.uuid4()), "Passports", "A-006")

    def confirm(subscription_id: str, start: int) -> Message:
        to = Addressee(subscription_id, tenant_id, "sms", "en")
        return confirmation(to, ticket, None, _at(), "https://q.example", start)

    def subscribe(told: Moment | None = None) -> Coroutine[Any, Any, Subscription]:
        return create_subscription(
            pool, tenant_id=tenant_id, queue_id=ticket.queue_id, ticket_id=ticket.ticket_id,
            channel="sms", address=NUMBER, language="en", rules=[("ahead", 2)], told=told,
            confirmation=confirm,
        )  # fmt: skip

    sid = (await subscribe()).subscription_id
    assert (await _stored(pool, sid))[1] == f"{sid}:subscribed:1"
    # Sent (the schedules stage clears it), and the rule crossed once.
    await _set(pool, sid, {"fired": {"ahead-2": 1}, "within": {"ahead-2": True}})
    assert (await subscribe()).subscription_id == sid
    assert (await _stored(pool, sid))[1] is None  # live: no second confirmation
    await cancel_subscription(pool, tenant_id, ticket.ticket_id, sid)
    far = Moment(ticket.ticket_id, ticket.queue_id, 9, _at(), "subscribed", "waiting", 6)
    assert (await subscribe(far)).subscription_id == sid
    watch, pending = await _stored(pool, sid)
    assert pending == f"{sid}:subscribed:2"
    # Told 5 ahead: outside `ahead: 2` (the old watch said inside), its next crossing the 2nd.
    assert watch["fired"] == {"ahead-2": 1, "subscribed": 2}
    assert watch["within"] == {"ahead-2": False} and watch["status"] == "waiting"
    await cancel_subscription(pool, tenant_id, ticket.ticket_id, sid)
    await subscribe()
    watch, pending = await _stored(pool, sid)
    assert pending == f"{sid}:subscribed:3"
    assert watch["fired"] == {"ahead-2": 1, "subscribed": 3}
    assert watch["within"] == {} and watch["status"] is None  # nothing told: as a new one


def _at() -> datetime:
    return datetime.now(UTC)


async def _set(pool: Pool, subscription_id: str, watch: dict[str, Any]) -> None:
    """The subscription's watch as given, its confirmation sent."""
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE subscriptions SET watch = %s, confirmation = NULL WHERE subscription_id = %s",
            (Jsonb(watch), subscription_id),
        )


async def _stored(pool: Pool, subscription_id: str) -> tuple[dict[str, Any], str | None]:
    """The subscription's watch, and the id of its confirmation waiting to be sent."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT watch, confirmation ->> 'id' FROM subscriptions WHERE subscription_id = %s",
            (subscription_id,),
        )
        row = await cur.fetchone()
    assert row is not None
    return dict(row[0]), row[1]


def _db(settings: Settings) -> psycopg.Connection[Any]:
    return psycopg.connect(
        settings.pg_url, autocommit=True, options=f"-c search_path={settings.db_schema}"
    )


def _delivery(settings: Settings, subscription_id: str, topic: str) -> tuple[str, str] | None:
    """The status and last error of the subscription's message of that topic, once tried."""
    with _db(settings) as conn:
        row = conn.execute(
            "SELECT status, last_error FROM deliveries WHERE destination = %s AND topic = %s",
            (subscription_id, topic),
        ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def _refused(provider: ProviderReceiver) -> Callable[[], bool]:
    return lambda: any(r.form.get("To") == NUMBER and r.status >= 500 for r in provider.requests)


async def test_a_missed_message_retried_after_its_time_to_come_back_is_not_sent(
    api: ApiClient, settings: Settings, provider: ProviderReceiver, pipeline: None
) -> None:
    queue_id = await api.create_queue(
        name="Passports", timezone="Europe/Paris", no_show_grace_seconds=GRACE_S
    )
    quiet = {"ahead": None, "eta_minutes": None, "called": False}
    mine = await api.enqueue(
        queue_id, notify=[{"channel": "sms", "address": NUMBER, "when": quiet}]
    )
    subscription_id = mine["subscriptions"][0]
    # "You're in line" first: the pipeline is up, and the no-show's message is tried at once.
    await until(lambda: len(_texts(provider)) == 1, STARTUP_S, "confirmation")
    assert await _call_next(api, queue_id, "1") == mine["ticket"]["ticket_id"]
    provider.fail_next(ALL_FAIL, 500)
    missed = await api.post(f"/v1/tickets/{mine['ticket']['ticket_id']}/no-show", json={})
    assert missed.status_code == 200, missed.text
    back_by = asyncio.get_running_loop().time() + GRACE_S
    await until(_refused(provider), GRACE_S, "failed attempt in the grace period")
    await asyncio.sleep(back_by - asyncio.get_running_loop().time() + 0.5)
    provider.clear_failures()  # the provider takes messages again, after the time to come back
    await until(
        lambda: (_delivery(settings, subscription_id, "missed") or ("",))[0] == "obsolete",
        STARTUP_S,
        "obsolete missed message",
    )
    found = _delivery(settings, subscription_id, "missed")
    assert found is not None and found[1].startswith("the time to come back by ("), found
    assert found[1].endswith(") has passed"), found
    await quiet_for(2.5)
    assert len(_texts(provider)) == 1, _texts(provider)  # the confirmation only
