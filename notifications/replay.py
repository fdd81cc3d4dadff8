"""Replay: send messages again from the delivery state (one, a destination's, since a time, or
the dead letters), each as a first attempt under its own id, so receivers dedupe as before."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from notifications.outlet import Outlet
from notifications.store import deliveries


async def replay(
    pool: AsyncConnectionPool[Any],
    outlet: Outlet,
    tenant_id: str | None,
    *,
    message_id: str | None = None,
    destination: str | None = None,
    since: datetime | None = None,
    dead_only: bool = False,
) -> int:
    """How many messages were put back on their channels' topics."""
    messages = await deliveries.to_replay(
        pool,
        tenant_id=tenant_id,
        message_id=message_id,
        destination=destination,
        since=since,
        dead_only=dead_only,
    )
    await outlet.send(messages)
    return len(messages)
