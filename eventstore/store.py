"""The PostgreSQL event store: append with expected version, read a stream, read the global order.

Ports are tiny and speak in the store's own errors; psycopg's never leak past this module.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import psycopg_pool
from psycopg import AsyncConnection
from psycopg.rows import tuple_row

from domain.events import QueueEvent, TicketEnqueued, TicketTransferredIn
from eventstore.errors import (
    ConcurrencyError,
    EventStoreError,
    IdempotencyKeyTaken,
    StoreUnavailable,
)
from eventstore.recorded import RecordedEvent
from eventstore.serialization import from_json, to_json

NOTIFY_CHANNEL = "vq_events"

_EVENT_COLUMNS = (
    "global_position, transaction_id::text, stream_id::text, stream_version, event_id::text, "
    "tenant_id::text, event_type, schema_version, occurred_at, command_id::text, "
    "correlation_id::text, actor, payload"
)


@dataclass(frozen=True, slots=True)
class Position:
    """A point in the global order: (transaction id, global position); see migration 0001."""

    transaction_id: int
    global_position: int

    @classmethod
    def start(cls) -> Position:
        return cls(0, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandContext:
    command_id: str
    correlation_id: str
    actor: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamAppend:
    stream_id: str
    tenant_id: str
    # 0 creates the stream; it must not exist yet.
    expected_version: int
    # Versions expected_version + 1, + 2, ... (see `new_records`).
    records: Sequence[RecordedEvent]


def new_records(
    *,
    stream_id: str,
    tenant_id: str,
    expected_version: int,
    events: Sequence[QueueEvent],
    context: CommandContext,
) -> StreamAppend:
    """Envelope new events for an append. Ids are chosen here so an answer can name them first."""
    records = [
        RecordedEvent(
            event_id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            queue_id=stream_id,
            stream_version=expected_version + offset,
            event=event,
            occurred_at=context.occurred_at,
            command_id=context.command_id,
            correlation_id=context.correlation_id,
            actor=context.actor,
        )
        for offset, event in enumerate(events, start=1)
    ]
    return StreamAppend(
        stream_id=stream_id,
        tenant_id=tenant_id,
        expected_version=expected_version,
        records=records,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotencyRecord:
    key: str
    request_hash: bytes
    status_code: int
    response: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    stream_id: str
    version: int
    snapshot_schema: int
    state: dict[str, Any]


def request_hash(*parts: str | bytes) -> bytes:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.digest()


def _unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"PostgreSQL is unavailable: {type(exc).__name__}: {exc}".strip())


class EventStore:
    def __init__(self, pool: psycopg_pool.AsyncConnectionPool[AsyncConnection[Any]]) -> None:
        self._pool = pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A pooled connection; driver failures surface as StoreUnavailable."""
        try:
            async with self._pool.connection() as conn:
                yield conn
        except psycopg_pool.PoolTimeout as exc:
            raise _unavailable(exc) from exc
        except psycopg.errors.QueryCanceled as exc:  # statement_timeout
            raise _unavailable(exc) from exc
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from exc

    # -- writing ---------------------------------------------------------------------------------

    async def append(
        self,
        appends: Sequence[StreamAppend],
        *,
        idempotency: IdempotencyRecord | None = None,
        tenant_id: str | None = None,
    ) -> None:
        """Append to one or more streams atomically, or raise ConcurrencyError and change nothing.

        When `idempotency` is given, its key is stored in the same transaction: a concurrent request
        that stored it first makes this one raise IdempotencyKeyTaken (and append nothing).
        """
        try:
            async with self.connection() as conn, conn.transaction(), conn.cursor() as cur:
                # The version check is the transaction's first write, which fixes its transaction
                # id only after the previous version was read as committed (see migration 0001).
                for item in appends:
                    await self._advance_stream(cur, item)
                for item in appends:
                    await self._insert_events(cur, item)
                await self._index_tickets(cur, appends)
                if idempotency is not None:
                    await cur.execute(
                        "INSERT INTO idempotency_keys "
                        "(tenant_id, idem_key, request_hash, status_code, response) "
                        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        (
                            tenant_id,
                            idempotency.key,
                            idempotency.request_hash,
                            idempotency.status_code,
                            json.dumps(idempotency.response),
                        ),
                    )
                    if cur.rowcount != 1:
                        raise IdempotencyKeyTaken(idempotency.key)
                await cur.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))
        except psycopg.errors.UniqueViolation as exc:
            # Only (stream_id, stream_version) or a new stream's id can collide here.
            first = appends[0]
            raise ConcurrencyError(first.stream_id, first.expected_version) from exc

    async def _advance_stream(self, cur: psycopg.AsyncCursor[Any], item: StreamAppend) -> None:
        new_version = item.expected_version + len(item.records)
        if item.expected_version == 0:
            await cur.execute(
                "INSERT INTO streams (stream_id, tenant_id, version) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (item.stream_id, item.tenant_id, new_version),
            )
        else:
            await cur.execute(
                "UPDATE streams SET version = %s, updated_at = now() "
                "WHERE stream_id = %s AND version = %s",
                (new_version, item.stream_id, item.expected_version),
            )
        if cur.rowcount != 1:
            raise ConcurrencyError(item.stream_id, item.expected_version)

    async def _insert_events(self, cur: psycopg.AsyncCursor[Any], item: StreamAppend) -> None:
        rows = []
        for offset, record in enumerate(item.records, start=1):
            if record.stream_version != item.expected_version + offset:
                raise ValueError("records must follow the expected version without gaps")
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

    async def _index_tickets(
        self, cur: psycopg.AsyncCursor[Any], appends: Sequence[StreamAppend]
    ) -> None:
        rows = [
            (event.ticket_id, item.tenant_id, item.stream_id)
            for item in appends
            for event in (record.event for record in item.records)
            if isinstance(event, TicketEnqueued | TicketTransferredIn)
        ]
        if rows:
            await cur.executemany(
                "INSERT INTO tickets (ticket_id, tenant_id, queue_id) VALUES (%s, %s, %s) "
                "ON CONFLICT (ticket_id) DO UPDATE SET queue_id = EXCLUDED.queue_id "
                "WHERE tickets.tenant_id = EXCLUDED.tenant_id",
                rows,
            )

    # -- reading ---------------------------------------------------------------------------------

    async def read_stream(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        async with self.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events "
                "WHERE stream_id = %s AND stream_version > %s ORDER BY stream_version",
                (stream_id, after_version),
            )
            return [_recorded(row) for row in await cur.fetchall()]

    async def read_all(
        self, after: Position, limit: int = 1000
    ) -> list[tuple[Position, RecordedEvent]]:
        """Events after `after` in the global order, from finished transactions only."""
        async with self.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events "
                "WHERE (transaction_id, global_position) > (%s::text::xid8, %s) "
                "AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) "
                "ORDER BY transaction_id, global_position LIMIT %s",
                (str(after.transaction_id), after.global_position, limit),
            )
            rows = await cur.fetchall()
        return [(Position(int(row[1]), row[0]), _recorded(row)) for row in rows]

    async def stream_owner(self, stream_id: str) -> tuple[str, int] | None:
        """(tenant id, current version) of a stream, or None if it does not exist."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT tenant_id::text, version FROM streams WHERE stream_id = %s", (stream_id,)
            )
            row = await cur.fetchone()
        return (row[0], row[1]) if row else None

    async def list_streams(self, tenant_id: str) -> list[str]:
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT stream_id::text FROM streams WHERE tenant_id = %s ORDER BY created_at",
                (tenant_id,),
            )
            return [row[0] for row in await cur.fetchall()]

    async def ticket_location(self, ticket_id: str) -> tuple[str, str] | None:
        """(tenant id, queue id) of the queue that holds the ticket now."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT tenant_id::text, queue_id::text FROM tickets WHERE ticket_id = %s",
                (ticket_id,),
            )
            row = await cur.fetchone()
        return (row[0], row[1]) if row else None

    async def find_idempotency(self, tenant_id: str, key: str) -> IdempotencyRecord | None:
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT request_hash, status_code, response FROM idempotency_keys "
                "WHERE tenant_id = %s AND idem_key = %s",
                (tenant_id, key),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        return IdempotencyRecord(
            key=key, request_hash=bytes(row[0]), status_code=row[1], response=row[2]
        )

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        async with self.connection() as conn:
            await conn.execute(
                "INSERT INTO snapshots (stream_id, version, snapshot_schema, state) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (stream_id) DO UPDATE SET "
                "version = EXCLUDED.version, snapshot_schema = EXCLUDED.snapshot_schema, "
                "state = EXCLUDED.state, taken_at = now() "
                "WHERE snapshots.version < EXCLUDED.version",
                (
                    snapshot.stream_id,
                    snapshot.version,
                    snapshot.snapshot_schema,
                    json.dumps(snapshot.state),
                ),
            )

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT version, snapshot_schema, state FROM snapshots WHERE stream_id = %s",
                (stream_id,),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        return Snapshot(stream_id=stream_id, version=row[0], snapshot_schema=row[1], state=row[2])

    async def load_checkpoint(self, name: str) -> Position:
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT transaction_id::text, global_position FROM checkpoints WHERE name = %s",
                (name,),
            )
            row = await cur.fetchone()
        return Position(int(row[0]), row[1]) if row else Position.start()

    async def save_checkpoint(self, name: str, position: Position) -> None:
        async with self.connection() as conn:
            await conn.execute(
                "INSERT INTO checkpoints (name, transaction_id, global_position) "
                "VALUES (%s, %s::text::xid8, %s) ON CONFLICT (name) DO UPDATE SET "
                "transaction_id = EXCLUDED.transaction_id, "
                "global_position = EXCLUDED.global_position, updated_at = now()",
                (name, str(position.transaction_id), position.global_position),
            )

    async def ping(self) -> None:
        async with self.connection() as conn:
            await conn.execute("SELECT 1")


def _recorded(row: Sequence[Any]) -> RecordedEvent:
    (
        position,
        _xid,
        stream_id,
        version,
        event_id,
        tenant_id,
        event_type,
        schema_version,
        occurred_at,
        command_id,
        correlation_id,
        actor,
        payload,
    ) = row
    return RecordedEvent(
        event_id=event_id,
        tenant_id=tenant_id,
        queue_id=stream_id,
        stream_version=version,
        event=from_json(event_type, schema_version, payload),
        occurred_at=occurred_at,
        command_id=command_id,
        correlation_id=correlation_id,
        actor=actor,
        global_position=position,
    )


__all__ = [
    "CommandContext",
    "ConcurrencyError",
    "EventStore",
    "EventStoreError",
    "IdempotencyKeyTaken",
    "IdempotencyRecord",
    "Position",
    "Snapshot",
    "StoreUnavailable",
    "StreamAppend",
    "new_records",
    "request_hash",
]
