"""Wiping the read models (before a rebuild: `delete_all`) removes them all and nothing else under
the prefix: a wipe must not forget who signed out, nor reset sign-in or rate-limit counters."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from access.tokens import AccessTokens
from core.settings import Settings
from projections.layout import Keys
from projections.rebuild import delete_all


async def test_a_wipe_spares_the_deny_list_and_the_counters(
    settings: Settings, pool: object
) -> None:
    client = aioredis.Redis.from_url(settings.redis_dsn)
    keys = Keys(settings.redis_prefix)
    tenant, queue = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        tokens = AccessTokens(pool, client, settings)  # type: ignore[arg-type]
        session = str(uuid.uuid4())
        await tokens.deny_session(session)
        counter = f"{settings.redis_prefix}:ratelimit:{{LIMITER/key/abc/1000/1/minute}}"
        await client.set(counter, 7)
        await client.hset(keys.queue(tenant, queue), mapping={"version": 1, "view": "{}"})
        await client.set(keys.home(tenant, str(uuid.uuid4())), queue)

        await delete_all(client, keys)

        assert await client.exists(keys.queue(tenant, queue)) == 0
        assert [k async for k in client.scan_iter(match=keys.all_keys())] == []
        assert await client.get(counter) == b"7"
        denied = [k async for k in client.scan_iter(match=f"{settings.redis_prefix}:access:*")]
        assert len(denied) == 1 and session.encode() in denied[0]
    finally:
        await client.aclose()
