"""A new subscription is told at once where the ticket stands ("A-006: you're in line at
Passports, 2 ahead... Reply STOP to stop."), and that counts as the `ahead` rule's crossing: found
by an outside probe, a person who subscribed 2 ahead with `ahead: 3` heard nothing until the line
moved. Through the real pipeline: the API, the read side, the notifier, the local SMS provider
and SMTP server (tests/receivers/)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.settings import Settings
from tests.integration.conftest import ApiClient
from tests.integration.reach import pipeline_running, quiet_for, receiving
from tests.receivers.provider import ProviderReceiver
from tests.receivers.smtp import SmtpReceiver

STARTUP_S = 40.0
STOP = " Reply STOP to stop."


@pytest.fixture
def settings(settings: Settings, smtp: SmtpReceiver, provider: ProviderReceiver) -> Settings:
    return receiving(settings, smtp, provider)


@pytest.fixture
async def pipeline(settings: Settings, topics: list[str]) -> AsyncIterator[None]:
    async with pipeline_running(settings):
        yield


async def _until_ahead(api: ApiClient, ticket: dict[str, Any], people: int) -> None:
    """Until the ticket's page shows `people` ahead (the read side has caught up)."""
    for _ in range(int(STARTUP_S * 10)):
        page = await api.http.get(f"/v1/tickets/{ticket['ticket_id']}", params=_token(ticket))
        if page.status_code == 200 and page.json()["people_ahead"] == people:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the ticket's page did not show {people} ahead within {STARTUP_S:g} s")


def _token(ticket: dict[str, Any]) -> dict[str, str]:
    return {"token": str(ticket["token"])}


async def _call_next(api: ApiClient, queue_id: str, counter: str) -> str:
    called = await api.post(f"/v1/queues/{queue_id}/call-next", json={"counter": counter})
    assert called.status_code == 200, called.text
    return str(called.json()["ticket"]["ticket_id"])


async def test_subscribing_within_ahead_is_told_the_place_at_once_and_not_again(
    api: ApiClient, provider: ProviderReceiver, pipeline: None
) -> None:
    number = "+447700900501"
    queue_id = await api.create_queue(name="Passports")
    for _ in range(2):
        await api.enqueue(queue_id)
    ticket = (await api.enqueue(queue_id))["ticket"]
    await _until_ahead(api, ticket, 2)
    made = await api.http.post(
        f"/v1/tickets/{ticket['ticket_id']}/subscriptions",
        headers={"X-Ticket-Token": str(ticket["token"])},
        json={"channel": "sms", "address": number, "when": {"ahead": 3, "eta_minutes": None}},
    )
    assert made.status_code == 201 and made.json()["when"]["subscribed"] is True, made.text

    # At once, before the line moves: the place as the page shows it, and how to stop.
    [told] = await provider.wait_for(1, STARTUP_S)
    assert told.to == number
    assert told.body.startswith(f"{ticket['number']}: you're in line at Passports, 2 ahead")
    assert told.body.endswith(STOP) and "http" not in told.body, told.body
    # 1 ahead, then next: the same crossing of `ahead: 3`, told already (not "1 person ahead").
    for counter in ("1", "2"):
        await _call_next(api, queue_id, counter)
    await _until_ahead(api, ticket, 0)
    await quiet_for()
    assert [m.body for m in provider.messages] == [told.body]
    # "It's your turn" is still told.
    assert await _call_next(api, queue_id, "3") == ticket["ticket_id"]
    texts = [m.body for m in await provider.wait_for(2, STARTUP_S)]
    assert texts[1].startswith(f"{ticket['number']}, it's your turn"), texts
    await quiet_for()
    assert len(provider.messages) == 2, [m.body for m in provider.messages]


async def test_an_enqueue_retried_under_one_key_is_confirmed_once(
    api: ApiClient, provider: ProviderReceiver, smtp: SmtpReceiver, pipeline: None
) -> None:
    """By SMS and email (its link and opt-out footer); not to one who turned it off."""
    queue_id = await api.create_queue(name="Passports")
    quiet = {"ahead": None, "eta_minutes": None}
    notify = [
        {"channel": "sms", "address": "+447700900502", "when": quiet},
        {"channel": "email", "address": "ada@example.com", "when": quiet},
        {"channel": "sms", "address": "+447700900503", "when": {**quiet, "subscribed": False}},
    ]
    headers = {"Idempotency-Key": f"kiosk-{uuid.uuid4()}"}
    answers = [
        await api.post(
            f"/v1/queues/{queue_id}/tickets", "kiosk", json={"notify": notify}, headers=headers
        )
        for _ in range(2)
    ]
    assert answers[0].status_code == 201, answers[0].text
    assert answers[1].json() == answers[0].json()
    number = answers[0].json()["ticket"]["number"]

    [sms] = await provider.wait_for(1, STARTUP_S)
    assert sms.to == "+447700900502"
    # Just enqueued: the read side may not have seen it yet, and no place is made up then.
    assert sms.body.startswith(f"{number}: you're in line at Passports"), sms.body
    assert sms.body.endswith(STOP) and "0 ahead" not in sms.body, sms.body
    [mail] = await smtp.wait_for(1, STARTUP_S)
    assert mail.message["Subject"] == f"{number}: you're in line at Passports"
    text = mail.message.get_content()
    assert "Follow your place in the queue: http" in text and "#token=" in text, text
    assert text.rstrip().rpartition("\n\n")[2].startswith("Stop these messages: http"), text
    await quiet_for()
    assert len(provider.messages) == 1 and len(smtp.messages) == 1
