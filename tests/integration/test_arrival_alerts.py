"""The notifier's unusual-arrivals alert on real stores: a queue's weeks of history in the
PostgreSQL event store, a staff rule in PostgreSQL, the queue's name from Redis. A rush is told
once, to the rule that asked; a restarted notifier folds the history again and makes the same
message (sent once downstream); a queue nobody watches costs nothing."""

from __future__ import annotations

import uuid
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis

from core.settings import Settings
from domain.commands import CloseQueue, CreateQueue, EnqueueTicket, OpenQueue
from domain.config import QueueConfig
from domain.events import QueueEvent
from domain.recorded import RecordedEvent
from notifications.arrivals import ArrivalAlerts
from notifications.messages import Message
from notifications.queue_views import QueueViews
from notifications.store.alerts import create_alert_rule
from projections.layout import Keys
from simulation.offline import LocalQueue, play_locally
from simulation.world import TimedCommand

MONDAY = datetime(2026, 11, 2, tzinfo=UTC)
WEEKS = 5  # four usual Mondays, then one with a rush from 09:15


def _mondays(queue_id: str, tenant_id: str) -> Generator[TimedCommand, list[QueueEvent], None]:
    config = QueueConfig(name="Permits", timezone="UTC")
    yield TimedCommand(
        MONDAY, CreateQueue(queue_id=queue_id, tenant_id=tenant_id, config=config, status="closed")
    )
    for week in range(WEEKS):
        opens = MONDAY + timedelta(weeks=week, hours=9)
        yield TimedCommand(opens, OpenQueue())
        for slot in range(4):
            count = 20 if week == WEEKS - 1 and slot == 1 else 5
            for k in range(count):
                at = opens + timedelta(minutes=15 * slot, seconds=(k + 0.5) * 900 / count)
                ticket = EnqueueTicket(ticket_id=str(uuid.uuid4()), channel="kiosk")
                yield TimedCommand(at, ticket)
        yield TimedCommand(opens + timedelta(hours=1), CloseQueue(reason="closing time"))


async def _observe(alerts: ArrivalAlerts, events: list[RecordedEvent]) -> list[Message]:
    return [m for e in events for m in await alerts.observe(e)]


async def test_a_rush_alerts_the_rule_once_and_a_restart_makes_the_same_message(
    settings: Settings, store: Any, pool: Any, tenant_id: str
) -> None:
    queue_id = str(uuid.uuid4())
    async for _ in play_locally(_mondays(queue_id, tenant_id), queue=LocalQueue(store)):
        pass
    events = await store.read_stream(queue_id, 0)
    last_monday = MONDAY + timedelta(weeks=WEEKS - 1)
    today = [e for e in events if e.event.at >= last_monday]
    client = aioredis.Redis.from_url(settings.redis_dsn)
    names = QueueViews(client, Keys(settings.redis_prefix))
    try:
        unwatched = await _observe(ArrivalAlerts(pool, names, "https://q.example"), today)
        assert unwatched == []  # no rule asked: nothing read, nothing said
        await create_alert_rule(
            pool, tenant_id, condition="unusual_arrivals", channel="email", address="boss@x.example"
        )
        first = ArrivalAlerts(pool, names, "https://q.example")
        messages = await _observe(first, today)
        assert len(messages) == 1
        (message,) = messages
        assert message.topic == "alert:unusual_arrivals" and message.to == "boss@x.example"
        assert message.queue_id == queue_id
        assert message.created_at < last_monday + timedelta(hours=9, minutes=30)  # in its slot
        assert message.data["value"] >= 15 and 4.5 <= message.data["threshold"] <= 5.0
        assert "in 15 min from 09:15" in message.data["detail"]
        assert await _observe(first, today) == []  # the same events again: folded already
        # A notifier started afresh (or another replica after a rebalance) judges the same.
        again = await _observe(ArrivalAlerts(pool, names, "https://q.example"), today)
        assert [m.id for m in again] == [message.id]
    finally:
        await client.aclose()
