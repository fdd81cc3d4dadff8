"""The management stores' way to PostgreSQL: a pooled connection whose failures are `Unavailable`
(a 503 with Retry-After on the HTTP side, never a 500), and the few statement shapes they share.

The schema is the pool's `search_path` (eventstore/pool.py), so table names are unqualified.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg_pool

from eventstore.pool import pooled

Pool = psycopg_pool.AsyncConnectionPool[Any]
Row = tuple[Any, ...]


# A pooled connection whose failures are a 503 (eventstore/pool.py), as the event store's are.
connection = pooled


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
