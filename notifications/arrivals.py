"""The notifier's unusual-arrivals alert: `domain.anomaly.ArrivalWatch` per queue, fed by the
queue's events as the notifier reads them, tells the staff rules that asked for
`unusual_arrivals` (one alert per rush; the watch itself cools down until calm returns).

Only queues some rule watches are watched. The first time one is seen, its watch is folded from
the event store up to the event before (its weeks of history: what is usual), so a restarted or
rebalanced notifier judges exactly as the one before; an event already folded is skipped. The
alert's id names the rule, the queue and the slot, so a replay or a second replica alerts once.
Rules are read again after `RULES_TTL_S`, so a rule made now is heeded within that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from domain.anomaly import Alert, ArrivalWatch
from domain.events import (
    QueueClosed,
    QueueCreated,
    QueueOpened,
    QueueReconfigured,
    TicketEnqueued,
)
from domain.recorded import RecordedEvent
from eventstore.postgres import PostgresEventStore
from notifications.alerting import alert_messages
from notifications.messages import Message
from notifications.queue_views import QueueViews
from notifications.store.alerts import AlertRule, alert_rules_for

CONDITION = "unusual_arrivals"
WATCHED = (TicketEnqueued, QueueOpened, QueueClosed)  # all the watch folds (time moves on them)
RULES_TTL_S = 30.0


@dataclass(slots=True)
class _Watched:
    watch: ArrivalWatch
    version: int  # the last stream version folded


class ArrivalAlerts:
    def __init__(self, pool: AsyncConnectionPool[Any], names: QueueViews, public_url: str) -> None:
        self._pool, self._names, self._public_url = pool, names, public_url.rstrip("/")
        self._store = PostgresEventStore(pool)
        self._watched: dict[str, _Watched] = {}
        self._rules: dict[tuple[str, str], tuple[float, list[AlertRule]]] = {}

    async def observe(self, recorded: RecordedEvent) -> list[Message]:
        if not isinstance(recorded.event, WATCHED):
            return []
        rules = await self._rules_for(recorded.tenant_id, recorded.queue_id)
        if not rules:
            self._watched.pop(recorded.queue_id, None)
            return []
        watched = self._watched.get(recorded.queue_id)
        if watched is None:
            watched = await self._load(recorded)
        if recorded.stream_version <= watched.version:
            return []  # folded already (a batch read again after a restart)
        alert = watched.watch.observe(recorded.event)
        watched.version = recorded.stream_version
        return [] if alert is None else await self._messages(recorded, rules, alert)

    async def _rules_for(self, tenant_id: str, queue_id: str) -> list[AlertRule]:
        key, now = (tenant_id, queue_id), time.monotonic()
        cached = self._rules.get(key)
        if cached is None or now - cached[0] > RULES_TTL_S:
            cached = (now, await alert_rules_for(self._pool, tenant_id, CONDITION, queue_id))
            self._rules[key] = cached
        return cached[1]

    async def _load(self, recorded: RecordedEvent) -> _Watched:
        """The queue's watch, folded from the event store up to the event before `recorded`
        (in the queue's time zone, from its settings there)."""
        watch = ArrivalWatch("UTC")
        before = recorded.stream_version - 1
        for past in await self._store.read_stream(recorded.queue_id, 0, before):
            if isinstance(past.event, QueueCreated | QueueReconfigured):
                watch.timezone = past.event.config.timezone
            elif isinstance(past.event, WATCHED):
                watch.observe(past.event)
        watched = self._watched[recorded.queue_id] = _Watched(watch, before)
        return watched

    async def _messages(
        self, recorded: RecordedEvent, rules: list[AlertRule], alert: Alert
    ) -> list[Message]:
        name = await self._names.name(recorded.tenant_id, recorded.queue_id)
        data = {
            "queue_name": name,
            "queue_id": recorded.queue_id,
            "detail": f"{alert.short()}.",
            "value": alert.count,
            "threshold": round(alert.usual, 1),
            "counter": None,
            "dashboard_url": f"{self._public_url}/dashboard",
        }
        day = alert.at.date().isoformat()
        seen = f"{recorded.queue_id}:{day}:{alert.slot}"
        return alert_messages(rules, seen=seen, at=alert.at, data=data)
