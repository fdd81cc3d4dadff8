"""One append transaction: lock the streams, read what changed, write the new events.

Why a lock and not only the version check: optimistic concurrency alone lets two API processes
that serve one busy queue fail each other's appends over and over (each retry reloads and decides
again). Holding a per-stream transaction-scoped advisory lock makes them take turns instead.

Why an advisory lock and not `SELECT ... FOR UPDATE`: a row lock gives the transaction its id when
it starts waiting, so a writer that queued first and got the lock second would carry an *older*
transaction id than the version before it, and the global order (transaction id, position) would
no longer be version order within the stream. An advisory lock takes no transaction id; the first
write comes after the lock is held, when the previous writer has committed, so it gets a younger
id. The `version = expected` check stays as the last line of defence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import tuple_row

from domain.recorded import RecordedEvent
from eventstore.rows import EVENT_COLUMNS, recorded_from_row
from eventstore.serialization import to_json
from eventstore.values import IdempotencyRecord, StreamAppend, to_write

NOTIFY_CHANNEL = "vq_events"


class PostgresAppendSession:
    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self._conn = conn

    async def lock(self, stream_ids: Sequence[str]) -> None:
        # One order for everybody (a transfer locks two streams): no deadlock.
        for stream_id in sorted(set(stream_ids)):
            await self._conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 7632))", (stream_id,)
            )

    async def read_stream(self, stream_id: str, after_version: int) -> list[RecordedEvent]:
        async with self._conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(
                f"SELECT {EVENT_COLUMNS} FROM events "
                "WHERE stream_id = %s AND stream_version > %s ORDER BY stream_version",
                (stream_id, after_version),
            )
            return [recorded_from_row(row) for row in await cur.fetchall()]

    async def append(
        self,
        appends: Sequence[StreamAppend],
        *,
        idempotency: IdempotencyRecord | None = None,
        tenant_id: str | None = None,
    ) -> None:
        appends = to_write(appends)
        if not appends:
            return
        async with self._conn.cursor() as cur:
            for item in appends:
                await _advance_stream(cur, item)
            for item in appends:
                await _insert_events(cur, item)
            await _index_tickets(cur, appends)
            await _note_aging(cur, appends)
            if idempotency is not None:
                # A key stored first by a concurrent request is a unique violation at commit
                # (the session turns it into IdempotencyKeyTaken): no round trip to check here.
                await cur.execute(
                    "INSERT INTO idempotency_keys (tenant_id, idem_key, request_hash, outcome) "
                    "VALUES (%s, %s, %s, %s)",
                    (
                        tenant_id,
                        idempotency.key,
                        idempotency.request_hash,
                        json.dumps(idempotency.outcome),
                    ),
                )
            # Delivered at commit: wakes the relay without polling.
            await cur.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))


async def _advance_stream(cur: psycopg.AsyncCursor[Any], item: StreamAppend) -> None:
    """Move the stream's version on. Not waiting for the row count keeps the writes in one round
    trip; a writer that was not at `expected_version` still fails at commit: on the unique key
    (stream, version) of the events it inserts, on the contiguity trigger (migration 0002) if it
    was ahead, or on the stream's key for a new stream."""
    new_version = item.expected_version + len(item.records)
    if item.expected_version == 0:
        await cur.execute(
            "INSERT INTO streams (stream_id, tenant_id, version) VALUES (%s, %s, %s)",
            (item.stream_id, item.tenant_id, new_version),
        )
    else:
        await cur.execute(
            "UPDATE streams SET version = %s, updated_at = now() "
            "WHERE stream_id = %s AND version = %s",
            (new_version, item.stream_id, item.expected_version),
        )


async def _insert_events(cur: psycopg.AsyncCursor[Any], item: StreamAppend) -> None:
    rows = []
    for record in item.records:
        rows.append(
            (
                item.stream_id,
                record.stream_version,
                record.event_id,
                item.tenant_id,
                record.event.TYPE,
                record.event.VERSION,
                record.occurred_at,
                record.command_id,
                record.correlation_id,
                record.actor,
                to_json(record.event),
            )
        )
    await cur.executemany(
        "INSERT INTO events (stream_id, stream_version, event_id, tenant_id, event_type, "
        "schema_version, occurred_at, command_id, correlation_id, actor, payload) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        rows,
    )


async def _note_aging(cur: psycopg.AsyncCursor[Any], appends: Sequence[StreamAppend]) -> None:
    """Whether the stream wants the aging scheduler's visits, when the append says (see 0004)."""
    for item in appends:
        if item.ages is not None:
            await cur.execute(
                "UPDATE streams SET ages = %s WHERE stream_id = %s", (item.ages, item.stream_id)
            )


async def _index_tickets(cur: psycopg.AsyncCursor[Any], appends: Sequence[StreamAppend]) -> None:
    rows = [
        (ticket_id, item.tenant_id, item.stream_id)
        for item in appends
        for ticket_id in item.tickets
    ]
    if rows:
        await cur.executemany(
            "INSERT INTO tickets (ticket_id, tenant_id, queue_id) VALUES (%s, %s, %s) "
            "ON CONFLICT (ticket_id) DO UPDATE SET queue_id = EXCLUDED.queue_id "
            "WHERE tickets.tenant_id = EXCLUDED.tenant_id",
            rows,
        )
