"""Periodic alert conditions, read off the read models every minute: a queue's P90 wait over its
target in the last hour, a counter idle while people wait, the estimates' accuracy degraded, and
what limits a queue's throughput against the same hour of past weekdays (projections.bottlenecks:
one alert per finding and hour, so a bottleneck that lasts is told once an hour at most).

Each alert's id names its rule, the queue and the period it is about (the hour, the idle spell's
quarter of an hour, the day), so a condition that holds for a while alerts once per period, and
replicas that check at the same time make the same ids (sent once).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from core.settings import Settings
from notifications.alerting import alert_messages
from notifications.consuming import periodically
from notifications.messages import Message
from notifications.outlet import Outlet
from notifications.queue_views import QueueViews
from notifications.store.alerts import AlertRule, alert_rules_of
from projections.analytics_report import load_buckets, summarize
from projections.bottleneck_reads import read_evidence
from projections.bottlenecks import find
from projections.layout import Keys

log = logging.getLogger("vq.notifications.conditions")

CONDITIONS = ("p90_over_target", "counter_idle", "accuracy_degraded", "bottleneck")
INTERVAL_S = 60.0
IDLE_MINUTES = 5.0  # a counter idle this long with people waiting (a rule's threshold wins)
ACCURACY_SHARE = 0.5  # share of waits within 20 % of the estimate (a rule's threshold wins)
ACCURACY_BASE = 20  # called tickets before accuracy is judged


class Conditions:
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
        self._views = QueueViews(client, self._keys)
        self._idle_since: dict[tuple[str, str], datetime] = {}

    async def run(self, stop: asyncio.Event) -> None:
        await periodically(stop, INTERVAL_S, self.check, "alert conditions")

    async def check(self) -> int:
        """Check every rule once; how many alerts were sent."""
        now = self._clock()
        messages: list[Message] = []
        for rule in await alert_rules_of(self._pool, CONDITIONS):
            for queue_id in await self._queues(rule):
                view = await self._views.view(rule.tenant_id, queue_id)
                if view is not None:
                    messages += await self._judge(rule, queue_id, view, now)
        await self._outlet.send(messages)
        return len(messages)

    async def _queues(self, rule: AlertRule) -> list[str]:
        if rule.queue_id is not None:
            return [rule.queue_id]
        found = await self._redis.zrange(self._keys.queues(rule.tenant_id), 0, -1)
        return [q.decode() if isinstance(q, bytes) else str(q) for q in found]

    async def _judge(
        self, rule: AlertRule, queue_id: str, view: dict[str, Any], now: datetime
    ) -> list[Message]:
        base = {
            "queue_name": view.get("name", ""),
            "queue_id": queue_id,
            "counter": None,
            "dashboard_url": f"{self._settings.public_url.rstrip('/')}/dashboard",
        }
        if rule.condition == "p90_over_target":
            return await self._p90(rule, queue_id, view, now, base)
        if rule.condition == "counter_idle":
            return self._idle(rule, queue_id, view, now, base)
        if rule.condition == "bottleneck":
            return await self._bottlenecks(rule, queue_id, view, now, base)
        return await self._accuracy(rule, queue_id, now, base)

    async def _p90(
        self,
        rule: AlertRule,
        queue_id: str,
        view: dict[str, Any],
        now: datetime,
        base: dict[str, Any],
    ) -> list[Message]:
        hour = now.replace(minute=0, second=0, microsecond=0)
        buckets = await load_buckets(
            self._redis, self._keys, rule.tenant_id, queue_id, now - timedelta(hours=1), now
        )
        target = rule.threshold or float(view.get("target_wait_seconds") or 0)
        p90 = summarize(buckets, now - timedelta(hours=1), now, int(target))["wait_seconds"]["p90"]
        if p90 is None or not target or p90 <= target:
            return []
        data = {**base, "value": p90, "threshold": target,
                "detail": f"P90 wait {p90:.0f} s over the target {target:.0f} s in the last hour"}  # fmt: skip
        return alert_messages([rule], seen=f"{queue_id}:{hour.isoformat()}", at=now, data=data)

    def _idle(
        self,
        rule: AlertRule,
        queue_id: str,
        view: dict[str, Any],
        now: datetime,
        base: dict[str, Any],
    ) -> list[Message]:
        busy = {serving["counter"] for serving in view.get("now_serving", [])}
        open_with_people = view.get("status") == "open" and int(view.get("waiting", 0)) > 0
        minutes = rule.threshold or IDLE_MINUTES
        due: list[Message] = []
        for counter in view.get("counters", []):
            key = (queue_id, counter)
            if not open_with_people or counter in busy:
                self._idle_since.pop(key, None)
                continue
            since = self._idle_since.setdefault(key, now)
            if now - since < timedelta(minutes=minutes):
                continue
            spell = since.replace(minute=since.minute - since.minute % 15, second=0, microsecond=0)
            data = {**base, "counter": counter, "value": round((now - since).total_seconds() / 60),
                    "threshold": minutes,
                    "detail": f"counter {counter} idle for {(now - since).total_seconds() / 60:.0f}"
                              f" minutes with {view.get('waiting')} waiting"}  # fmt: skip
            seen = f"{queue_id}:{counter}:{spell.isoformat()}"
            due += alert_messages([rule], seen=seen, at=now, data=data)
        return due

    async def _bottlenecks(
        self,
        rule: AlertRule,
        queue_id: str,
        view: dict[str, Any],
        now: datetime,
        base: dict[str, Any],
    ) -> list[Message]:
        """Each cause found (a growing line is their effect: p90_over_target tells it) costing
        at least the rule's threshold in people an hour (default: any)."""
        evidence = await read_evidence(
            self._redis, self._keys, rule.tenant_id, queue_id, view, now, live=True
        )
        hour = now.replace(minute=0, second=0, microsecond=0).isoformat()
        due: list[Message] = []
        for found in find(evidence):
            if found.kind == "line_growing" or found.people_per_hour < (rule.threshold or 0):
                continue
            counter = found.subject if found.kind == "counter_idle" else None
            data = {**base, "counter": counter, "value": round(found.people_per_hour),
                    "threshold": None, "detail": found.short()}  # fmt: skip
            seen = f"{queue_id}:{found.kind}:{found.subject}:{hour}"
            due += alert_messages([rule], seen=seen, at=now, data=data)
        return due

    async def _accuracy(
        self, rule: AlertRule, queue_id: str, now: datetime, base: dict[str, Any]
    ) -> list[Message]:
        raw = await self._redis.get(self._keys.accuracy(rule.tenant_id, queue_id))
        if raw is None:
            return []
        accuracy = json.loads(raw)
        serving = accuracy.get("serving")
        figures = next(
            (f for f in accuracy.get("estimators", []) if f.get("estimator") == serving), None
        )
        share = ACCURACY_SHARE if rule.threshold is None else rule.threshold
        if figures is None or figures.get("called", 0) < ACCURACY_BASE:
            return []
        within = figures.get("within_20_percent")
        if within is None or within >= share:
            return []
        data = {**base, "value": within, "threshold": share,
                "detail": f"{within:.0%} of waits within 20 % of the estimate ({serving})"}  # fmt: skip
        return alert_messages(
            [rule], seen=f"{queue_id}:{now.date().isoformat()}", at=now, data=data
        )
