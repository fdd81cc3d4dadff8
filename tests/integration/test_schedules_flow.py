"""A recurring 18:00 summary fires once per day in the queue's time zone across a DST change,
with two notifier replicas firing on the same (injected) clock, and a one-off announcement
reaches everyone still waiting once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from core.settings import Settings
from notifications.outlet import Outlet
from notifications.scheduling import Schedules
from notifications.store.schedules import create_schedule
from tests.integration.kafka_support import json_records
from tests.integration.reach import delivery_topics

BERLIN = ZoneInfo("Europe/Berlin")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_a_daily_summary_fires_once_a_day_at_18_berlin_time_across_the_dst_change(
    settings: Settings, topics: list[str], pool: Any, tenant_id: str
) -> None:
    await delivery_topics(settings)
    start = datetime(2026, 10, 23, 12, 0, tzinfo=UTC)  # Friday; clocks go back on Sunday the 25th
    clock = Clock(start)
    await create_schedule(
        pool,
        tenant_id,
        queue_id=str(uuid.uuid4()),
        kind="summary",
        recurrence="daily",
        time_zone="Europe/Berlin",
        now=start,
        local_time=time(18, 0),
        channel="email",
        address="manager@example.com",
    )
    client = aioredis.Redis.from_url(settings.redis_dsn)
    outlets = [Outlet(settings), Outlet(settings)]
    replicas = [Schedules(settings, pool, outlet, client, clock) for outlet in outlets]
    moved = 0
    try:
        while clock.now < start + timedelta(days=4):  # four days, a firing look every 5 minutes
            fired = await asyncio.gather(*(replica.fire_due() for replica in replicas))
            moved += sum(fired)
            clock.now += timedelta(minutes=5)
    finally:
        for outlet in outlets:
            await outlet.aclose()
        await client.aclose()
    records = await json_records(settings, settings.deliveries_topic("email"))
    ids = Counter(record["id"] for record in records)
    assert moved == 4  # each occurrence moved on by one replica only
    assert len(ids) == 4  # four days, four messages (a replica that raced made the same ids)
    local = sorted({datetime.fromisoformat(r["created_at"]).astimezone(BERLIN) for r in records})
    assert [(m.day, m.hour, m.minute) for m in local] == [(d, 18, 0) for d in (23, 24, 25, 26)]
    # 18:00 in Berlin is 16:00 UTC in summer time and 17:00 UTC after the clocks went back.
    utc_hours = [m.astimezone(UTC).hour for m in local]
    assert utc_hours == [16, 16, 17, 17]
    assert all(r["topic"] == "summary" and r["to"] == "manager@example.com" for r in records)
