"""The query side's one error for a Redis that cannot serve now (a 503 with Retry-After).

"Cannot serve now" is more than a lost connection. A Redis that answers may still refuse: full
(`OOM`, maxmemory with `noeviction`: it refuses whatever may grow memory, and that includes every
command queued in a MULTI, so a one-instant read of a queue too), running a slow script (`BUSY`),
loading its snapshot (`LOADING`), a replica (`READONLY`, `MASTERDOWN`), or refusing writes after
a failed snapshot (`MISCONF`) or for want of replicas (`NOREPLICAS`). Each passes, and retrying
later is the answer; any other error (a bad command, a script's bug) is ours, and stays a 500
with its traceback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.exceptions import (
    ClusterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.errors import Unavailable

# Error codes of a Redis that answers but cannot serve now. redis-py maps some to classes (below)
# and passes the others as a plain ResponseError whose code is its `status_code` or first word.
NOT_NOW_CODES = frozenset(
    {"OOM", "BUSY", "LOADING", "READONLY", "MASTERDOWN", "MISCONF", "NOREPLICAS", "TRYAGAIN"}
)
NOT_NOW_CLASSES = (OutOfMemoryError, ReadOnlyError, ClusterDownError, TryAgainError)


class ReadModelUnavailable(Unavailable):
    """Redis did not answer, or cannot serve now: the caller gets a 503 with Retry-After."""

    public_detail = "the read models (Redis) are unavailable; retry later"


def cannot_serve(exc: BaseException) -> bool:
    """Whether `exc` means Redis cannot serve now (down, full, busy, loading, a replica)."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
        return True  # redis-py's BusyLoadingError (LOADING) is a ConnectionError
    if isinstance(exc, NOT_NOW_CLASSES):
        return True  # MASTERDOWN is a ClusterDownError
    return isinstance(exc, ResponseError) and error_code(exc) in NOT_NOW_CODES


def error_code(exc: RedisError) -> str:
    """The error's code (`OOM`, `BUSY`...): newer redis-py keep it apart, older ones in the text."""
    code = getattr(exc, "status_code", None)
    if isinstance(code, str) and code:
        return code
    text = str(exc)
    return text.split(" ", 1)[0] if text else ""


@asynccontextmanager
async def redis_errors() -> AsyncIterator[None]:
    """Turn Redis' "cannot serve now" errors into the query side's own error (one log line, a
    503); any other Redis error passes unchanged."""
    try:
        yield
    except (RedisError, OSError) as exc:
        if not cannot_serve(exc):
            raise
        raise ReadModelUnavailable(_described(exc)) from exc


def _described(exc: BaseException) -> str:
    """For the log: the error's text, after its code where the text lacks it (`OOM: ...`)."""
    code = getattr(exc, "status_code", None)
    text = str(exc) or type(exc).__name__
    return f"{code}: {text}" if isinstance(code, str) and code not in text else text
