"""Periodic alert conditions on real read models (Redis) and rules (PostgreSQL): a counter idle
while people wait, and estimates whose accuracy degraded, each alerted once per period."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis

from core.settings import Settings
from notifications.conditions import Conditions
from notifications.outlet import Outlet
from notifications.store.alerts import create_alert_rule
from projections.layout import Keys
from tests.integration.kafka_support import json_records
from tests.integration.reach import delivery_topics


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_an_idle_counter_and_degraded_accuracy_alert_once_each(
    settings: Settings, topics: list[str], pool: Any, tenant_id: str
) -> None:
    await delivery_topics(settings)
    queue_id = str(uuid.uuid4())
    keys, client = Keys(settings.redis_prefix), aioredis.Redis.from_url(settings.redis_dsn)
    view = {
        "name": "Pharmacy",
        "status": "open",
        "counters": ["A", "B"],
        "waiting": 4,
        "now_serving": [{"counter": "A", "ticket_id": "t", "number": "P-1", "status": "serving"}],
        "target_wait_seconds": 600,
    }
    accuracy = {
        "serving": "learned",
        "estimators": [{"estimator": "learned", "called": 40, "within_20_percent": 0.3}],
    }
    await client.hset(keys.queue(tenant_id, queue_id), "view", json.dumps(view))
    await client.zadd(keys.queues(tenant_id), {queue_id: 1})
    await client.set(keys.accuracy(tenant_id, queue_id), json.dumps(accuracy))
    for condition in ("counter_idle", "accuracy_degraded"):
        await create_alert_rule(
            pool, tenant_id, condition=condition, channel="email", address="boss@example.com"
        )
    clock = Clock(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    outlet = Outlet(settings)
    conditions = Conditions(settings, pool, outlet, client, clock)
    try:
        sent = [await conditions.check()]  # B idle from now; accuracy already below half
        for minutes in (3, 6, 9):
            clock.now = datetime(2026, 12, 2, 9, minutes, tzinfo=UTC)
            sent.append(await conditions.check())
        view["now_serving"] = []  # both idle now, B still in the same spell
        await client.hset(keys.queue(tenant_id, queue_id), "view", json.dumps(view))
        for _ in range(2):  # A idle from the first of these, alerted at the second
            clock.now += timedelta(minutes=6)
            sent.append(await conditions.check())
    finally:
        await outlet.aclose()
        await client.aclose()
    alerts = await json_records(settings, settings.deliveries_topic("email"))
    ids = {a["id"] for a in alerts}
    topics_seen = sorted(a["topic"] for a in {a["id"]: a for a in alerts}.values())
    # accuracy once (one a day), B once (one spell), A once (its own spell, 6 minutes on)
    assert topics_seen == ["alert:accuracy_degraded", "alert:counter_idle", "alert:counter_idle"]
    assert len(ids) == 3 and sum(sent) >= 3
    assert {a["data"]["counter"] for a in alerts if a["topic"] == "alert:counter_idle"} == {
        "A",
        "B",
    }
