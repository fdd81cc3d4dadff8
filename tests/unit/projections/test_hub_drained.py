"""A stopping API waits for its live connections to end (vq/api.py, on SIGTERM): the hub says
when, once closed, every lease has been released. No Redis: the hub is never started."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from projections.fanout import Hub
from projections.leases import Lease


async def test_drained_once_closed_and_every_connection_released() -> None:
    hub = Hub(cast(Any, None), "vq:*")
    first, second = Lease("key:k1", key_id="k1"), Lease("key:k2", key_id="k2")
    hub.admit(first)
    hub.admit(second)
    await hub.close()
    drained = asyncio.create_task(hub.drained())
    hub.release(first)
    await asyncio.sleep(0)
    assert not drained.done()  # one connection still open
    hub.release(second)
    async with asyncio.timeout(1):
        await drained


async def test_a_hub_with_no_connection_is_drained_at_once() -> None:
    hub = Hub(cast(Any, None), "vq:*")
    await hub.close()
    async with asyncio.timeout(1):
        await hub.drained()
