"""Scheduled and recurring messages: an announcement to everyone waiting, a manager's daily
summary; and, each round, new subscriptions' confirmations (notifications/confirmation.py).
Each replica looks for due schedules every second; firing one puts its messages on the
delivery topics under ids made of the schedule and the occurrence, and then moves the schedule to
its next occurrence with a compare-and-set. Two replicas that fire the same occurrence make the
same ids (sent once), and only one of them moves it on; a replica that dies between the two fires
it again on restart, under the same ids. Times are the queue's wall clock (schedules.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from core.settings import Settings
from notifications.confirmation import fire_confirmations
from notifications.consuming import periodically
from notifications.messages import Message, channel
from notifications.outlet import Outlet
from notifications.queue_views import QueueViews
from notifications.reminders import fire_reminders
from notifications.schedules import next_occurrence
from notifications.store import deliveries, watches
from notifications.store import schedules as store
from projections.analytics_report import load_buckets, summarize
from projections.layout import Keys

log = logging.getLogger("vq.notifications.schedules")

INTERVAL_S = 1.0
# The delivery log's settled messages past their retention are forgotten this often.
PURGE_EVERY = timedelta(hours=1)


class Schedules:
    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool[Any],
        outlet: Outlet,
        client: aioredis.Redis,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings, self._pool, self._outlet, self._clock = settings, pool, outlet, clock
        self._redis, self._keys = client, Keys(settings.redis_prefix)
        self._names = QueueViews(client, self._keys)
        self._purged_at: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        await periodically(stop, INTERVAL_S, self._round, "schedules")

    async def _round(self) -> None:
        await fire_confirmations(self._pool, self._outlet)  # "you're in line": at once
        await self.fire_due()
        await self.fire_reminders()
        now = self._clock()
        if self._purged_at is None or now - self._purged_at >= PURGE_EVERY:
            retention = timedelta(days=self._settings.delivery_retention_days)
            await deliveries.purge(self._pool, now - retention)
            self._purged_at = now

    async def fire_reminders(self) -> int:
        """Send the bookings' reminders due now; how many."""
        return await fire_reminders(
            self._pool, self._outlet, self._names, self._clock(), self._settings.public_url
        )

    async def fire_due(self) -> int:
        """Fire every occurrence due now; how many this replica moved on."""
        fired = 0
        for schedule in await store.due_schedules(self._pool, self._clock(), 100):
            occurrence = schedule.next_at
            assert occurrence is not None
            messages = await self._messages(schedule, occurrence)
            await self._outlet.send(messages)
            following = (
                None  # a one-off fires once
                if schedule.recurrence == "once"
                else next_occurrence(
                    "daily",
                    local_time=schedule.local_time,
                    at=None,
                    time_zone=schedule.time_zone,
                    after=occurrence,
                )
            )
            if await store.advance_schedule(
                self._pool, schedule.schedule_id, occurrence, following
            ):
                fired += 1
        return fired

    async def _messages(self, schedule: Any, occurrence: datetime) -> list[Message]:
        name = await self._names.name(schedule.tenant_id, schedule.queue_id)
        base = f"sched:{schedule.schedule_id}:{occurrence.isoformat()}"
        if schedule.kind == "summary":
            data = await self._summary(schedule, occurrence, name)
            return [
                Message(
                    id=base,
                    tenant_id=schedule.tenant_id,
                    channel=channel(schedule.channel),
                    to=schedule.address,
                    topic="summary",
                    created_at=occurrence,
                    order_key=schedule.schedule_id,
                    language=schedule.language,
                    queue_id=schedule.queue_id,
                    data=data,
                )
            ]
        return [
            Message(
                id=f"{base}:{f.subscription_id}",
                tenant_id=schedule.tenant_id,
                channel=channel(f.channel),
                to="",  # read from the subscription when sent
                topic="announcement",
                created_at=occurrence,
                order_key=f.ticket_id,
                language=f.language,
                queue_id=f.queue_id,
                ticket_id=f.ticket_id,
                subscription_id=f.subscription_id,
                data={"text": schedule.text, "queue_name": name},
            )
            for f in await watches.in_queue(self._pool, schedule.queue_id)
        ]

    async def _summary(self, schedule: Any, occurrence: datetime, name: str) -> dict[str, Any]:
        zone = ZoneInfo(schedule.time_zone)
        local = occurrence.astimezone(zone)
        day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        buckets = await load_buckets(
            self._redis, self._keys, schedule.tenant_id, schedule.queue_id, day_start, occurrence
        )
        row = summarize(buckets, day_start, occurrence, 0)
        view = await self._names.view(schedule.tenant_id, schedule.queue_id) or {}
        waits = row["wait_seconds"]
        return {
            "queue_name": name,
            "date": local.date().isoformat(),
            "served": row["served"],
            "no_shows": row["no_shows"],
            "waiting": view.get("waiting", 0),
            "mean_wait_minutes": _minutes(waits.get("mean")),
            "p90_wait_minutes": _minutes(waits.get("p90")),
            "dashboard_url": f"{self._settings.public_url.rstrip('/')}/dashboard",
        }


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)
