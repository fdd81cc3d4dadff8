"""A tenant's events, streamed out of the store in its global order, as JSON lines or CSV.

Why the global order (transaction id, position) rather than stream by stream: it is the order the
events happened in across queues (a transfer's two halves stay together, in one transaction), and
an import that appends in it gives every stream its versions in order too. Read from finished
transactions only, as the relay reads (see eventstore/postgres.py), below a horizon fixed when
the export starts: the id the next transaction would have then, once every transaction begun
before it has ended (waited for, up to SETTLE_S; then 503). An export is the tenant's events as
they were when it started, every one committed before it and none after, however long it takes.
(Its horizon was the oldest transaction still running anywhere on the server: one writing for
long, another tenant's import say, left the tenant's newest events out, silently.) Keyset pages
of PAGE rows, each on a pooled connection of its own: memory holds one page, and no connection
is held while the reader (an HTTP client, a disk) takes its time.

The pages walk the commit-order index and keep the tenant's rows: cheap for a tenant that holds
most of the store, but a small tenant among many others' events reads past theirs, and a page
that has to pass millions of them could reach the statement timeout (an index on tenant id and
commit order would make each page a range scan; it would cost every append, and is not made).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Final

import psycopg_pool
from psycopg import AsyncConnection

from eventstore.errors import StoreUnavailable
from eventstore.pool import pooled
from eventstore.rows import HORIZON_SQL
from exports.rows import EVENT_FIELDS, EXPORT_COLUMNS, csv_text, event_cells, event_line

PAGE: Final = 5000
Pool = psycopg_pool.AsyncConnectionPool[AsyncConnection[Any]]

# How long an export waits for the transactions begun before it, and how often it looks.
SETTLE_S: Final = 5.0
SETTLE_POLL_S: Final = 0.02
_PAGE_SQL: Final = (
    f"SELECT events.transaction_id::text, events.global_position, {EXPORT_COLUMNS} FROM events "
    "WHERE events.tenant_id = %s "
    "AND (events.transaction_id, events.global_position) > (%s::text::xid8, %s) "
    "AND events.transaction_id < %s::text::xid8 "
    "ORDER BY events.transaction_id, events.global_position LIMIT %s"
)


async def event_rows(pool: Pool, tenant_id: str, page: int = PAGE) -> AsyncIterator[list[Any]]:
    """The tenant's events a page at a time (rows of EXPORT_COLUMNS), in the global order."""
    horizon, after = await _horizon(pool), ("0", 0)
    while True:
        async with pooled(pool) as conn:
            cur = await conn.execute(_PAGE_SQL, (tenant_id, *after, horizon, page))
            rows = await cur.fetchall()
        if not rows:
            return
        after = (rows[-1][0], rows[-1][1])
        yield [row[2:] for row in rows]
        if len(rows) < page:
            return


async def _horizon(pool: Pool) -> str:
    """The next transaction's id now, once every transaction begun before now has ended."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_S
    began: str | None = None
    while True:
        async with pooled(pool) as conn:
            cur = await conn.execute(HORIZON_SQL)
            oldest, upcoming = await cur.fetchone() or ("0", "0")
        began = began or upcoming
        if int(oldest) >= int(began):
            return began
        if loop.time() >= deadline:
            raise StoreUnavailable(
                f"a transaction begun before the export is still writing after {SETTLE_S:g} s"
            )
        await asyncio.sleep(SETTLE_POLL_S)


async def jsonl_chunks(pool: Pool, tenant_id: str, page: int = PAGE) -> AsyncIterator[str]:
    """The export as JSON lines, one text chunk a page (one line an event)."""
    async for rows in event_rows(pool, tenant_id, page):
        yield "".join(event_line(row) for row in rows)


async def csv_chunks(pool: Pool, tenant_id: str, page: int = PAGE) -> AsyncIterator[str]:
    """The export as CSV: a header row, then one row an event (the payload a JSON column). The
    header goes with the first page: the first chunk is had only once the store answered."""
    header = csv_text([EVENT_FIELDS])
    async for rows in event_rows(pool, tenant_id, page):
        yield header + csv_text(event_cells(row) for row in rows)
        header = ""
    if header:
        yield header
