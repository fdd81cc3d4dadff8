"""A tenant's events, streamed out of the store in its global order, as JSON lines or CSV.

Why the global order (transaction id, position) rather than stream by stream: it is the order the
events happened in across queues (a transfer's two halves stay together, in one transaction), and
an import that appends in it gives every stream its versions in order too. An export is the
tenant's events as they were when it started, however long it takes: it takes PostgreSQL's
snapshot then and keeps the rows of the transactions that had committed in it
(`pg_visible_in_snapshot`), so one still running then (here or anywhere on the server) is left out
even when it commits before the export ends, and nothing that committed before the start is left
out however long another transaction writes. (The horizon was the oldest transaction running
anywhere on the server: one writing for long, another tenant's import say, left the tenant's
newest events out, silently.) Keyset pages of PAGE rows, each on a pooled connection of its own:
memory holds one page, and no connection is held while the reader (an HTTP client, a disk) takes
its time.

The pages walk the commit-order index and keep the tenant's rows: cheap for a tenant that holds
most of the store, but a small tenant among many others' events reads past theirs, and a page
that has to pass millions of them could reach the statement timeout (an index on tenant id and
commit order would make each page a range scan; it would cost every append, and is not made).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

import psycopg_pool
from psycopg import AsyncConnection

from eventstore.pool import pooled
from exports.rows import EVENT_FIELDS, EXPORT_COLUMNS, csv_text, event_cells, event_line

PAGE: Final = 5000
Pool = psycopg_pool.AsyncConnectionPool[AsyncConnection[Any]]

_SNAPSHOT_SQL: Final = "SELECT s::text, pg_snapshot_xmax(s)::text FROM pg_current_snapshot() s"
_PAGE_SQL: Final = (
    f"SELECT events.transaction_id::text, events.global_position, {EXPORT_COLUMNS} FROM events "
    "WHERE events.tenant_id = %s "
    "AND (events.transaction_id, events.global_position) > (%s::text::xid8, %s) "
    "AND events.transaction_id < %s::text::xid8 "
    "AND pg_visible_in_snapshot(events.transaction_id, %s::pg_snapshot) "
    "ORDER BY events.transaction_id, events.global_position LIMIT %s"
)


async def event_rows(pool: Pool, tenant_id: str, page: int = PAGE) -> AsyncIterator[list[Any]]:
    """The tenant's events a page at a time (rows of EXPORT_COLUMNS), in the global order."""
    async with pooled(pool) as conn:
        cur = await conn.execute(_SNAPSHOT_SQL)
        found = await cur.fetchone()
    assert found is not None
    (snapshot, horizon), after = found, ("0", 0)
    while True:
        async with pooled(pool) as conn:
            cur = await conn.execute(_PAGE_SQL, (tenant_id, *after, horizon, snapshot, page))
            rows = await cur.fetchall()
        if not rows:
            return
        after = (rows[-1][0], rows[-1][1])
        yield [row[2:] for row in rows]
        if len(rows) < page:
            return


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
