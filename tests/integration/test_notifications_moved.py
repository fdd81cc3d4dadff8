"""A person is told when their ticket changes hands, through the real pipeline (API, workers,
notifier, SMS provider): moved to another queue under a new number, and marked no-show with the
time to come back by (found by the notifications probe: both were silent)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.settings import Settings
from notifications.reminders import day_words
from tests.integration.conftest import PROVIDER_SID, PROVIDER_TOKEN, ApiClient
from tests.integration.reach import pipeline_running, reach_settings
from tests.receivers.provider import ProviderReceiver

STARTUP_S = 40.0
GRACE_S = 900
ZONE = "Europe/Paris"


@pytest.fixture
def settings(settings: Settings, provider: ProviderReceiver) -> Settings:
    return reach_settings(
        settings,
        sms_base_url=provider.url,
        sms_account_sid=PROVIDER_SID,
        sms_auth_token=PROVIDER_TOKEN,
    )


@pytest.fixture
async def pipeline(settings: Settings, topics: list[str]) -> AsyncIterator[None]:
    async with pipeline_running(settings):
        yield


def _back_by(missed_at: datetime) -> str:
    """The "Back by ..." for a no-show at `missed_at`: the day too when it is another day's."""
    zone = ZoneInfo(ZONE)
    deadline = (missed_at + timedelta(seconds=GRACE_S)).astimezone(zone)
    if deadline.date() == missed_at.astimezone(zone).date():
        return f"Back by {deadline:%H:%M} to keep your place."
    return f"Back by {day_words(deadline.date(), 'en')} at {deadline:%H:%M}."


async def test_a_transfer_and_a_no_show_are_told_to_the_person(
    api: ApiClient, provider: ProviderReceiver, pipeline: None
) -> None:
    front = await api.create_queue(name="Front desk", prefix="A", counters=["1"])
    radiology = await api.create_queue(
        name="Radiology",
        prefix="R",
        counters=["Room 5"],
        timezone=ZONE,
        no_show_grace_seconds=GRACE_S,
    )
    # No place rules, nor "you're in line" first (test_notifications_confirm.py tells it).
    quiet = {"ahead": None, "eta_minutes": None, "subscribed": False}
    late = await api.enqueue(
        radiology,
        notify=[{"channel": "sms", "address": "+447700900402", "when": {**quiet, "called": False}}],
    )
    await api.enqueue(radiology)
    mine = await api.enqueue(
        front, notify=[{"channel": "sms", "address": "+447700900401", "when": quiet}]
    )
    was, ticket_id = mine["ticket"]["number"], mine["ticket"]["ticket_id"]
    moved = await api.post(f"/v1/tickets/{ticket_id}/transfer", json={"to_queue_id": radiology})
    assert moved.status_code == 200, moved.text
    now = moved.json()["ticket"]["number"]
    assert now != was and now.startswith("R")
    [told] = await provider.wait_for(1, STARTUP_S)
    assert told.to == "+447700900401"
    assert told.body.startswith(f"{was}: moved to Radiology, now {now}, 2 ahead. "), told.body
    assert f"/t/{ticket_id}#token=" in told.body  # the ticket's link, to follow the new line

    called = await api.post(f"/v1/queues/{radiology}/call-next", json={"counter": "Room 5"})
    assert called.json()["ticket"]["ticket_id"] == late["ticket"]["ticket_id"], called.text
    before = datetime.now(UTC)
    missed = await api.post(f"/v1/tickets/{late['ticket']['ticket_id']}/no-show", json={})
    assert missed.status_code == 200, missed.text
    after = datetime.now(UTC)
    texts = await provider.wait_for(2, STARTUP_S)
    [back] = [m for m in texts if m.to == "+447700900402"]
    number = late["ticket"]["number"]
    told = {f"{number}: you missed your turn. {_back_by(at)} " for at in (before, after)}
    assert any(back.body.startswith(t) for t in told), (back.body, told)
    await asyncio.sleep(2.0)  # long enough for a duplicate to have arrived, had one been sent
    assert len(provider.messages) == 2, [m.body for m in provider.messages]
