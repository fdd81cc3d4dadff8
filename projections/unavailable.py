"""The query side's one error for a Redis that does not answer (a 503 with Retry-After)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.errors import Unavailable


class ReadModelUnavailable(Unavailable):
    """Redis did not answer: the caller gets a 503 with Retry-After."""

    public_detail = "the read models (Redis) are unavailable; retry later"


@asynccontextmanager
async def redis_errors() -> AsyncIterator[None]:
    """Turn Redis' connection failures into the query side's own error."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise ReadModelUnavailable(str(exc) or type(exc).__name__) from exc
