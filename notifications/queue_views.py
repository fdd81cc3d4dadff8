"""A queue as its read model (Redis) shows it: what messages and alerts say of it.

The stream workers write each queue's view (projections/views.py) to one hash; the notification
stages read it here only, a name cached a minute (names hardly change, and every message of a
busy queue needs it).
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis
from cachetools import TTLCache

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
            name = self._names[key] = str(view.get("name") or "the queue")
        return name

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
