"""Telling every API process that a credential stopped being valid, so the live connections
(SSE, WebSocket) that used it end within seconds instead of running on (core/revocations.py).

Publishing is a courtesy on top of the revocation itself, which is already in force (the key's
row, the session's deny-list entry): a failed publish is logged, never fails the revocation. A
process that misses it while its Redis subscription is down has ended every live connection
anyway (the hub ends its followers when it loses Redis), and each reconnect is checked afresh.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.revocations import revocation_message, revocations_channel

log = logging.getLogger("vq.access")


async def publish_revocation(redis: aioredis.Redis, prefix: str, kind: str, value: str) -> None:
    """Announce that `kind` (key_id, session_id, user_id) `value` is revoked; never raises for
    Redis' sake."""
    message = revocation_message(kind, value)
    try:
        await redis.publish(revocations_channel(prefix), message)
    except (RedisError, OSError) as exc:  # OSError: timeouts too
        log.warning(
            "could not announce the revocation of %s %s (%s): live connections that use it "
            "run on until they close, their credential expires or their process loses Redis",
            kind,
            value,
            type(exc).__name__,
        )
