"""One leader at a time for a named loop (the relay, the aging scheduler), across processes.

The leader holds a session-level PostgreSQL advisory lock on a connection of its own: when its
process dies, the connection drops, the lock goes with it and a standby takes over within one poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection

# One leader per event store (schema) and name, whatever else shares the database.
_TRY_LEAD = "SELECT pg_try_advisory_lock(hashtextextended(current_schema() || ':' || %s, 0))"

Connect = Callable[[], Awaitable[AsyncConnection[Any]]]


async def lead(
    connect: Connect,
    name: str,
    stop: asyncio.Event,
    poll_s: float,
    work: Callable[[AsyncConnection[Any]], Awaitable[None]],
) -> None:
    """Run `work` with the leader's connection once this process leads `name`; until then ask
    again every `poll_s`. Returns when `work` does or `stop` is set; the connection (and with it
    the leadership) is let go either way. Connection errors are the caller's to handle."""
    conn = await connect()
    try:
        while not stop.is_set():
            cur = await conn.execute(_TRY_LEAD, (name,))
            row = await cur.fetchone()
            if row and row[0]:
                await work(conn)
                return
            await sleep_or_stop(stop, poll_s)
    finally:
        await conn.close()


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
