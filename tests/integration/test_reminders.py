"""A booking's reminders: made with the booking's subscriptions, sent once `remind_minutes`
before the slot (on the notifier's schedules loop, here on the test's clock), again before a new
slot when the booking moves, never for a cancelled booking or an erased person; the message
names the subscription, not the address; and a real reminder reaches the SMS provider in the
person's words, with the link to the booking's page, which opens the booking."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import redis.asyncio as aioredis

from core.settings import Settings
from notifications.outlet import Outlet
from notifications.scheduling import Schedules
from tests.integration.conftest import PROVIDER_SID, PROVIDER_TOKEN
from tests.integration.kafka_support import json_records
from tests.integration.reach import delivery_topics, notifier, reach_settings
from tests.receivers.provider import ProviderReceiver
from vq.api import create_app

# A Monday still to come: the delivery stage sends by the real clock, and a reminder whose slot
# has begun by it is not sent (notifications/obsolete.py).
MONDAY = datetime(2037, 11, 30, 7, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = MONDAY

    def __call__(self) -> datetime:
        return self.now


def at(hour: int, minute: int = 0) -> datetime:
    return MONDAY.replace(hour=hour, minute=minute)


async def test_a_reminder_before_the_slot_once_and_again_when_moved(
    settings: Settings, topics: list[str]
) -> None:
    await delivery_topics(settings)
    clock = Clock()
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        _, admin = await app.state.services.directory.create_tenant("Clinic")
        transport = httpx.ASGITransport(app=app)
        auth = {"Authorization": f"Bearer {admin.secret}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://vq.test", headers=auth
        ) as http:
            made = await http.post(
                "/v1/queues",
                json={"name": "GP", "timezone": "Europe/Madrid", "appointments": {}},
            )
            queue = made.json()["queue_id"]

            async def book(slot: datetime, **more: Any) -> dict[str, Any]:
                body = {
                    "slot_at": slot.isoformat(),
                    "notify": [{"channel": "email", "address": "ana@example.org"}],
                    "remind_minutes": 60,
                    **more,
                }
                answer = await http.post(f"/v1/queues/{queue}/appointments", json=body)
                assert answer.status_code == 201, answer.text
                return dict(answer.json())

            first = await book(at(10))
            cancelled = await book(at(10, 15))
            erased = await book(at(10, 30), contact={"name": "Bea"})
            assert len(first["subscriptions"]) == 1
            gone = await http.post(f"/v1/appointments/{cancelled['appointment_id']}/cancel")
            assert gone.status_code == 200, gone.text
            forget = await http.post(
                "/v1/personal-data/erase", json={"ticket_id": erased["appointment_id"]}
            )
            assert forget.json()["subscriptions_removed"] == 1

            client = aioredis.Redis.from_url(settings.redis_dsn)
            outlet = Outlet(settings)
            schedules = Schedules(settings, app.state.notifications.pool, outlet, client, clock)
            try:
                clock.now = at(8, 59)
                assert await schedules.fire_reminders() == 0
                clock.now = at(9, 0)  # 10:00 less an hour: due; the others are gone
                assert await schedules.fire_reminders() == 1
                clock.now = at(9, 40)
                assert await schedules.fire_reminders() == 0  # sent once
                moved = await http.post(
                    f"/v1/appointments/{first['appointment_id']}/reschedule",
                    json={"slot_at": at(11).isoformat()},
                    headers={"X-Ticket-Token": first["token"], "Authorization": ""},
                )
                assert moved.status_code == 200, moved.text
                assert await schedules.fire_reminders() == 0  # due at 10:00 now
                clock.now = at(10, 0)
                assert await schedules.fire_reminders() == 1
                clock.now = at(12, 0)  # past the slot: nothing more
                assert await schedules.fire_reminders() == 0
            finally:
                await outlet.aclose()
                await client.aclose()

    sent = await json_records(settings, settings.deliveries_topic("email"), at_least=2)
    reminders = [m for m in sent if m["topic"] == "reminder"]
    assert len(reminders) == 2 and len({m["id"] for m in reminders}) == 2
    assert {m["subscription_id"] for m in reminders} == set(first["subscriptions"])
    assert [m["data"]["slot_time"] for m in reminders] == ["11:00", "12:00"]  # Madrid time
    assert all(m["to"] == "" for m in reminders)  # the address stays in the subscription


async def test_a_reminder_reaches_the_sms_provider_with_the_booking_s_link(
    settings: Settings, topics: list[str], provider: ProviderReceiver
) -> None:
    """Found by the reach probe: "votre rendez-vous à Vaccins est à 22:00 le 2026-12-06", and
    no way to reach the booking's page to check in or cancel."""
    settings = reach_settings(
        settings,
        public_url="https://vq.example.org",
        sms_base_url=provider.url,
        sms_account_sid=PROVIDER_SID,
        sms_auth_token=PROVIDER_TOKEN,
    )
    await delivery_topics(settings)
    clock = Clock()
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        _, admin = await app.state.services.directory.create_tenant("Clinic")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vq.test") as http:
            auth = {"Authorization": f"Bearer {admin.secret}"}
            made = await http.post(
                "/v1/queues",
                json={"name": "Vaccins", "timezone": "Europe/Paris", "appointments": {}},
                headers=auth,
            )
            queue = made.json()["queue_id"]
            sms = {"channel": "sms", "address": "+33612345678", "language": "fr"}
            body = {"slot_at": at(21).isoformat(), "notify": [sms], "remind_minutes": 60}
            booked = await http.post(f"/v1/queues/{queue}/appointments", json=body, headers=auth)
            assert booked.status_code == 201, booked.text
            booking = booked.json()["appointment_id"]
            client = aioredis.Redis.from_url(settings.redis_dsn)
            outlet = Outlet(settings)
            schedules = Schedules(settings, app.state.notifications.pool, outlet, client, clock)
            try:
                clock.now = at(20)
                assert await schedules.fire_reminders() == 1
            finally:
                await outlet.aclose()
                await client.aclose()
            with notifier(settings, "deliver"):
                [text] = await provider.wait_for(1, 40.0)
            assert text.to == "+33612345678"
            words, link = text.body.rsplit(" ", 1)
            # 21:00 UTC is 22:00 in Paris, on Monday 30 November.
            assert words == "Rappel : Vaccins, 30 novembre à 22:00. Votre RDV :", text.body
            page, token = link.split("#token=")
            assert page == f"https://vq.example.org/t/{booking}", link
            opened = await http.get(
                f"/v1/appointments/{booking}", headers={"X-Ticket-Token": token}
            )
            assert opened.status_code == 200, opened.text
            assert opened.json()["slot_at"].startswith(f"{MONDAY:%Y-%m-%d}T"), opened.text
