"""The PostgreSQL connection pool, made in a composition root, never at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import psycopg_pool
from psycopg import AsyncConnection

from core.settings import Settings
from eventstore.errors import StoreUnavailable

# A request must never hang on the database: a connection is had within this bound, and no single
# statement runs longer than the statement timeout. 2 s, not 1 (until 2026-12-06): on a busy
# machine a new server connection can take over a second to start (make test saw a freshly
# started API's first request, a burst of 50 on one queue, and sign-ins beside a flood each
# answered 503 so), and a server that is down still gets its 503 within two seconds.
POOL_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 2
STATEMENT_TIMEOUT_MS = 5000
# Nor does a transaction stay open with nothing running in it: a caller that stops between two
# statements (a bug, a task left suspended, a process frozen) would hold its locks (a queue's turn,
# the audit chain) and every reader's horizon for as long as its connection lives. The server ends
# such a session after this long; nothing of ours waits a fraction of it between two statements.
IDLE_IN_TRANSACTION_MS = 60_000


def connect_kwargs(schema: str) -> dict[str, Any]:
    return {
        "autocommit": True,
        "connect_timeout": CONNECT_TIMEOUT_S,
        "options": f"-c search_path={schema} -c statement_timeout={STATEMENT_TIMEOUT_MS} "
        f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}",
        # Notice a dead server on an idle pooled connection in seconds, not in hours.
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 2,
        "prepare_threshold": 5,
    }


async def open_pool(
    settings: Settings, *, min_size: int = 2, max_size: int = 16, wait: bool = False
) -> psycopg_pool.AsyncConnectionPool[AsyncConnection[Any]]:
    pool: psycopg_pool.AsyncConnectionPool[AsyncConnection[Any]] = psycopg_pool.AsyncConnectionPool(
        settings.pg_url,
        min_size=min_size,
        max_size=max_size,
        kwargs=connect_kwargs(settings.db_schema),
        timeout=POOL_TIMEOUT_S,
        # Give up on a failed background connection attempt quickly: the next request that
        # finds the pool empty starts a new one, so a restarted PostgreSQL is used at once.
        reconnect_timeout=2.0,
        open=False,
    )
    await pool.open(wait=wait, timeout=CONNECT_TIMEOUT_S * 2)
    return pool


async def connect(settings: Settings) -> AsyncConnection[Any]:
    """A dedicated connection (LISTEN, leader lock) outside the pool."""
    return await psycopg.AsyncConnection.connect(
        settings.pg_url, **connect_kwargs(settings.db_schema)
    )


@asynccontextmanager
async def pooled(
    pool: psycopg_pool.AsyncConnectionPool[AsyncConnection[Any]],
) -> AsyncIterator[AsyncConnection[Any]]:
    """A pooled connection whose driver failures (no connection in time, a statement over its
    timeout, a server gone) surface as `StoreUnavailable`: a 503 with Retry-After, never a 500."""
    try:
        async with pool.connection() as conn:
            yield conn
    except (
        psycopg_pool.PoolTimeout,
        psycopg.errors.QueryCanceled,  # statement_timeout
        psycopg.OperationalError,
    ) as exc:
        raise StoreUnavailable(
            f"PostgreSQL is unavailable: {type(exc).__name__}: {exc}".strip()
        ) from exc
