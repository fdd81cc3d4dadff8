"""A tenant's tickets as CSV, one row a ticket and queue, folded queue by queue.

Each queue's events are read in stream-version order, a page at a time, and folded with the
domain's own `evolve` (the same rules as the write side's), so a ticket's status and times are
what the service itself holds. A queue is forgotten once its tickets are written: memory holds
one queue's state, which the domain bounds (it forgets the oldest finished tickets past
`FINISHED_RETENTION`; their rows are written as they are forgotten). Personal data (a ticket's
contact name, phone and email, its metadata and language) is left out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

from domain.evolve import evolve
from domain.state import FINISHED_STATUSES, QueueState, initial_state
from eventstore.pool import pooled
from eventstore.postgres import PostgresEventStore
from exports.events import PAGE, Pool
from exports.rows import TICKET_FIELDS, csv_text, ticket_cells

_QUEUES_SQL: Final = (
    "SELECT stream_id::text, version FROM streams WHERE tenant_id = %s "
    "ORDER BY created_at, stream_id"
)


class TicketRows:
    """One queue's fold, keeping the rows of its finished tickets until the fold forgets them."""

    def __init__(self, queue_id: str) -> None:
        self.queue_id = queue_id
        self.state: QueueState = initial_state(queue_id)
        self._finished: dict[str, list[str]] = {}
        self._evicted: list[str] = self.state.last_evicted

    def apply(self, event: Any) -> list[list[str]]:
        """Fold one event; the rows of the tickets the fold forgot because of it."""
        evolve(self.state, event)
        ticket = self.state.tickets.get(getattr(event, "ticket_id", None) or "")
        if ticket is not None and ticket.status in FINISHED_STATUSES:
            self._finished[ticket.ticket_id] = ticket_cells(self.queue_id, ticket)
        if self.state.last_evicted is self._evicted:
            return []
        self._evicted = self.state.last_evicted
        return [self._finished.pop(ticket_id) for ticket_id in self._evicted]

    def remaining(self) -> list[list[str]]:
        """The rows of every ticket the fold still holds, at the end."""
        return [ticket_cells(self.queue_id, t) for t in self.state.tickets.values()]


async def tickets_csv_chunks(pool: Pool, tenant_id: str, page: int = PAGE) -> AsyncIterator[str]:
    """The tickets CSV: a header row, then every queue's tickets, queue by queue."""
    async with pooled(pool) as conn:
        cur = await conn.execute(_QUEUES_SQL, (tenant_id,))
        queues = [(str(row[0]), int(row[1])) for row in await cur.fetchall()]
    yield csv_text([TICKET_FIELDS])  # (once the store answered)
    store = PostgresEventStore(pool, group_commit=False)
    for queue_id, version in queues:
        fold, done = TicketRows(queue_id), 0
        while done < version:
            records = await store.read_stream(queue_id, done, min(done + page, version))
            if not records:
                break
            rows = [row for record in records for row in fold.apply(record.event)]
            done = records[-1].stream_version
            if rows:
                yield csv_text(rows)
        yield csv_text(fold.remaining())
