"""A queue as its read model (Redis) shows it: what messages and alerts say of it.

The stream workers write each queue's view (projections/views.py) to one hash; the notification
stages read it here only, a name cached a minute (names hardly change, and every message of a
busy queue needs it). The organisation's name, which signs its emails, is cached the same way.
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis
from cachetools import TTLCache
from psycopg_pool import AsyncConnectionPool

from eventstore.tenants import tenant_name
from notifications.rules import Moment
from projections.layout import Keys


class QueueViews:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._redis, self._keys = client, keys
        self._names: TTLCache[tuple[str, str], str] = TTLCache(maxsize=10_000, ttl=60)

    async def view(self, tenant_id: str, queue_id: str) -> dict[str, Any] | None:
        """The queue's view now; None when the read model has none (yet)."""
        raw = await self._redis.hget(self._keys.queue(tenant_id, queue_id), "view")
        return None if raw is None else dict(json.loads(raw))

    async def name(self, tenant_id: str, queue_id: str) -> str:
        key = (tenant_id, queue_id)
        name = self._names.get(key)  # one lookup: `in` then `[]` races the TTL
        if name is None:
            view = await self.view(tenant_id, queue_id) or {}
            if not view.get("name"):  # not projected yet: asked again next time, not cached
                return "the queue"
            name = self._names[key] = str(view["name"])
        return name

    async def numbers(self, tenant_id: str, queue_id: str, ticket_ids: list[str]) -> dict[str, str]:
        """The printed numbers of tickets in a queue, from their views (one round trip): a
        message about the whole queue (paused, closed) still names the ticket it is for. A
        ticket without a view (not projected yet) is left out."""
        if not ticket_ids:
            return {}
        keys = [self._keys.ticket(tenant_id, queue_id, t) for t in ticket_ids]
        found: dict[str, str] = {}
        for ticket_id, raw in zip(ticket_ids, await self._redis.mget(keys), strict=True):
            number = None if raw is None else json.loads(raw).get("number")
            if number:
                found[ticket_id] = str(number)
        return found

    async def was_empty(self, tenant_id: str, moment: Moment) -> bool:
        """Whether the ticket this moment put first in line found nobody waiting. The read model
        is written before the moment is announced; when it is still at the moment's version its
        count says so exactly, and when it has moved on, being first is taken as the sign."""
        version, raw = await self._redis.hmget(
            self._keys.queue(tenant_id, moment.queue_id), "version", "view"
        )
        if version is None or raw is None or int(version) != moment.version:
            return True
        return int(json.loads(raw).get("waiting", 0)) <= 1


class TenantNames:
    """The organisation's name, which signs the emails its people get; cached a minute (a
    message of every ticket needs it, and it is renamed seldom)."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool
        self._names: TTLCache[str, str] = TTLCache(maxsize=10_000, ttl=60)

    async def name(self, tenant_id: str) -> str | None:
        """None for no such organisation."""
        name = self._names.get(tenant_id)
        if name is None and (name := await tenant_name(self._pool, tenant_id)) is not None:
            self._names[tenant_id] = name
        return name
