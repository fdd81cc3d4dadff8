"""The management stores' way to PostgreSQL: a pooled connection whose failures are `Unavailable`
(a 503 with Retry-After on the HTTP side, never a 500), and the few statement shapes they share.

The schema is the pool's `search_path` (eventstore/pool.py), so table names are unqualified.
A statement shape given a connection instead of the pool runs on it, inside whatever
transaction it is in (`in_transaction`: a change and its audit entry commit together).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg_pool
from psycopg import AsyncConnection

from eventstore.pool import pooled

Pool = psycopg_pool.AsyncConnectionPool[Any]
Conn = AsyncConnection[Any]
# The pool (a connection of its own a statement), or a connection whose transaction it joins.
Db = Pool | Conn
Row = tuple[Any, ...]


@asynccontextmanager
async def connection(db: Db) -> AsyncIterator[Conn]:
    """A pooled connection whose failures are a 503 (eventstore/pool.py), as the event store's
    are; or the connection given, as it is."""
    if isinstance(db, AsyncConnection):
        yield db
        return
    async with pooled(db) as conn:
        yield conn


@asynccontextmanager
async def in_transaction(pool: Pool) -> AsyncIterator[Conn]:
    """A pooled connection in a transaction: what is done on it commits together, or not."""
    async with pooled(pool) as conn, conn.transaction():
        yield conn


async def fetch_all(db: Db, query: str, args: Sequence[Any] = ()) -> list[Row]:
    async with connection(db) as conn:
        cur = await conn.execute(query, args)
        return list(await cur.fetchall())


async def fetch_one(db: Db, query: str, args: Sequence[Any] = ()) -> Row | None:
    async with connection(db) as conn:
        cur = await conn.execute(query, args)
        row = await cur.fetchone()
    return None if row is None else tuple(row)


async def changed(db: Db, query: str, args: Sequence[Any] = ()) -> int:
    """How many rows the statement changed."""
    async with connection(db) as conn:
        cur = await conn.execute(query, args)
        return cur.rowcount
