"""The management stores' way to PostgreSQL: a pooled connection whose failures are `Unavailable`
(a 503 with Retry-After on the HTTP side, never a 500), and the few statement shapes they share.

The schema is the pool's `search_path` (eventstore/pool.py), so table names are unqualified.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import psycopg_pool
from psycopg import AsyncConnection

from core.errors import Unavailable

Pool = psycopg_pool.AsyncConnectionPool[Any]
Row = tuple[Any, ...]


class NotificationStoreUnavailable(Unavailable):
    """PostgreSQL cannot be reached or answered too slowly: nothing was changed."""

    public_detail = "the database (PostgreSQL) is unavailable; nothing was changed, retry later"


@asynccontextmanager
async def connection(pool: Pool) -> AsyncIterator[AsyncConnection[Any]]:
    try:
        async with pool.connection() as conn:
            yield conn
    except (
        psycopg_pool.PoolTimeout,
        psycopg.errors.QueryCanceled,  # statement_timeout
        psycopg.OperationalError,
    ) as exc:
        raise NotificationStoreUnavailable(
            f"PostgreSQL: {type(exc).__name__}: {exc}".strip()
        ) from exc


async def fetch_all(pool: Pool, query: str, args: Sequence[Any] = ()) -> list[Row]:
    async with connection(pool) as conn:
        cur = await conn.execute(query, args)
        return list(await cur.fetchall())


async def fetch_one(pool: Pool, query: str, args: Sequence[Any] = ()) -> Row | None:
    async with connection(pool) as conn:
        cur = await conn.execute(query, args)
        row = await cur.fetchone()
    return None if row is None else tuple(row)


async def changed(pool: Pool, query: str, args: Sequence[Any] = ()) -> int:
    """How many rows the statement changed."""
    async with connection(pool) as conn:
        cur = await conn.execute(query, args)
        return cur.rowcount
