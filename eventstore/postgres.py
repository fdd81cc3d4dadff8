"""The PostgreSQL event store (the system of record): append with expected version, read a
stream, read the global order, and the side tables (idempotency keys, snapshots, checkpoints).

Implements `eventstore.port.EventStore` and speaks in the store's own errors; psycopg's never leak
past this module.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import psycopg
import psycopg_pool
from psycopg import AsyncConnection
from psycopg.rows import tuple_row

from domain.recorded import RecordedEvent
from eventstore.append import APPEND_SQL, PostgresAppendSession, append_alone, append_document
from eventstore.errors import ConcurrencyError, IdempotencyKeyTaken
from eventstore.group import GroupCommitter
from eventstore.pool import pooled
from eventstore.rows import EVENT_COLUMNS, HORIZON, HORIZON_SQL, recorded_from_row
from eventstore.values import IdempotencyRecord, Position, Snapshot, StreamAppend
from observability import logs, metrics, tracing

# Qualified names in ORDER BY on purpose: the select list has an output column named
# `transaction_id` (its text form), and a bare name there would sort by that text, where
# '1000000' < '999999': the reader would pass over older events once ids gain a digit.
READ_ALL_SQL = (
    f"SELECT {EVENT_COLUMNS} FROM events "
    "WHERE (events.transaction_id, events.global_position) > (%s::text::xid8, %s) "
    f"AND events.transaction_id < {HORIZON} "
    "ORDER BY events.transaction_id, events.global_position LIMIT %s"
)
# How many events a reader (a relay's checkpoint) has not passed yet, counted up to a bound (an
# index range scan), and the age of the oldest of them.
UNPUBLISHED_SQL = (
    "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(recorded_at)), 0) "
    "FROM (SELECT events.recorded_at FROM events WHERE (events.transaction_id, "
    "events.global_position) > (COALESCE((SELECT transaction_id FROM checkpoints WHERE name = %s), "
    "'0'::xid8), COALESCE((SELECT global_position FROM checkpoints WHERE name = %s), 0)) "
    "ORDER BY events.transaction_id, events.global_position LIMIT %s) AS behind"
)
GROUP_SQL = "SELECT vq_append_group(%s::jsonb)"
# The contexts of a batch's transactions; those before it are published: forgotten.
TRACE_PARENTS_SQL = (
    "WITH published AS (DELETE FROM event_traces WHERE transaction_id < %s::text::xid8) "
    "SELECT transaction_id::text, traceparent FROM event_traces "
    "WHERE transaction_id = ANY(%s::text[]::xid8[])"
)


class PostgresEventStore:
    def __init__(
        self,
        pool: psycopg_pool.AsyncConnectionPool[AsyncConnection[Any]],
        *,
        group_commit: bool = True,
    ) -> None:
        self._pool = pool
        # Concurrent appends share a transaction (eventstore/group.py); off: one each.
        self._group = GroupCommitter(self._append_group) if group_commit else None

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection[Any]]:
        """A pooled connection; driver failures surface as StoreUnavailable."""
        return pooled(self._pool)

    # -- writing ---------------------------------------------------------------------------------

    @asynccontextmanager
    async def session(self, stream_ids: Sequence[str]) -> AsyncIterator[PostgresAppendSession]:
        """A transaction that holds the write lock of each stream: read, decide, append, commit.

        Writers of one stream take turns instead of failing each other; see `eventstore/append.py`.
        Leaving the block commits; an exception rolls everything back.

        The statements are pipelined: the lock and the read go out together (one round trip),
        and so do all the writes with the COMMIT (one more). Conflicts therefore surface as
        constraint violations when the pipeline syncs, and are translated here.
        """
        session: _LoggedSession | None = None
        started = time.perf_counter()
        try:
            async with (
                tracing.span("vq.eventstore append"),
                self.connection() as conn,
                conn.pipeline(),
                conn.transaction(),
            ):
                session = _LoggedSession(conn)
                await session.lock(stream_ids)
                yield session  # (its append keeps the trace context, tracing on)
        except psycopg.errors.UniqueViolation as exc:
            _measured(session, "conflict", started)
            raise _conflict(exc, stream_ids) from exc
        except BaseException:
            _measured(session, "error", started)
            raise
        else:
            _measured(session, "ok", started)

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

        One statement (vq_append, migration 0016: the streams' locks, the version checks and
        every write), in a transaction shared with the appends of whatever other commands wait
        at the same time (group commit, eventstore/group.py): one round trip and one commit for
        all of them.
        """
        events = sum(len(a.records) for a in appends)
        started, outcome = time.perf_counter(), "error"
        try:
            async with tracing.span("vq.eventstore append"):
                document = append_document(appends, idempotency, tenant_id, tracing.traceparent())
                if document is None:
                    return
                _bind_log(appends)
                if self._group is not None:
                    await self._group.append(document, [a.stream_id for a in appends])
                else:
                    async with self.connection() as conn:
                        await conn.execute(APPEND_SQL, (document,), prepare=False)
            outcome = "ok"
        except psycopg.errors.UniqueViolation as exc:
            outcome = "conflict"
            raise _conflict(exc, [a.stream_id for a in appends]) from exc
        except (ConcurrencyError, IdempotencyKeyTaken):
            outcome = "conflict"
            raise
        finally:
            if events:
                metrics.appended(outcome, events, time.perf_counter() - started)

    async def _append_group(self, documents: list[str]) -> list[dict[str, str] | None]:
        """A group's appends in one statement (vq_append_group); a lone one in vq_append."""
        async with self.connection() as conn:
            if len(documents) == 1:
                return [await append_alone(conn, documents[0])]
            cur = await conn.execute(GROUP_SQL, ("[" + ",".join(documents) + "]",), prepare=False)
            row = await cur.fetchone()
        assert row is not None
        results: list[dict[str, str] | None] = row[0]
        return results

    # -- reading ---------------------------------------------------------------------------------

    async def read_stream(
        self, stream_id: str, after_version: int = 0, up_to_version: int | None = None
    ) -> list[RecordedEvent]:
        """The stream's events after `after_version`, up to `up_to_version` when given."""
        async with self.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(
                f"SELECT {EVENT_COLUMNS} FROM events "
                "WHERE stream_id = %s AND stream_version > %s AND stream_version <= %s "
                "ORDER BY stream_version",
                (
                    stream_id,
                    after_version,
                    up_to_version if up_to_version is not None else 2**31 - 1,
                ),
            )
            return [recorded_from_row(row) for row in await cur.fetchall()]

    async def read_all(
        self, after: Position, limit: int = 1000
    ) -> list[tuple[Position, RecordedEvent]]:
        """Events after `after` in the global order, from finished transactions only."""
        async with self.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(
                READ_ALL_SQL, (str(after.transaction_id), after.global_position, limit)
            )
            rows = await cur.fetchall()
        return [(Position(int(row[1]), row[0]), recorded_from_row(row)) for row in rows]

    async def read_horizon(self) -> tuple[int, int]:
        async with self.connection() as conn:
            xmin, xmax = await (await conn.execute(HORIZON_SQL)).fetchone() or (0, 0)
        return int(xmin), int(xmax)

    async def stream_owner(self, stream_id: str) -> tuple[str, int] | None:
        """(tenant id, current version) of a stream, or None if it does not exist."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT tenant_id::text, version FROM streams WHERE stream_id = %s", (stream_id,)
            )
            row = await cur.fetchone()
        return (row[0], row[1]) if row else None

    async def stream_versions(self) -> list[tuple[str, str, int]]:
        """(stream id, tenant id, current version) of every stream."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT stream_id::text, tenant_id::text, version FROM streams"
            )
            return [(row[0], row[1], row[2]) for row in await cur.fetchall()]

    async def aging_streams(self) -> list[tuple[str, str]]:
        """(stream id, tenant id) of every queue whose configuration ages tickets."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT stream_id::text, tenant_id::text FROM streams WHERE ages "
                "ORDER BY created_at"
            )
            return [(row[0], row[1]) for row in await cur.fetchall()]

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
                "SELECT request_hash, outcome FROM idempotency_keys "
                "WHERE tenant_id = %s AND idem_key = %s",
                (tenant_id, key),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        return IdempotencyRecord(key=key, request_hash=bytes(row[0]), outcome=row[1])

    async def save_snapshot(self, snapshot: Snapshot, keep: int = 5) -> None:
        """Store a snapshot; only the newest `keep` of the stream stay."""
        async with self.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO snapshots (stream_id, version, snapshot_schema, state) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (stream_id, version) DO NOTHING",
                (
                    snapshot.stream_id,
                    snapshot.version,
                    snapshot.snapshot_schema,
                    json.dumps(snapshot.state),
                ),
            )
            await conn.execute(
                "DELETE FROM snapshots WHERE stream_id = %s AND version < ("
                " SELECT min(version) FROM (SELECT version FROM snapshots WHERE stream_id = %s"
                " ORDER BY version DESC LIMIT %s) AS newest)",
                (snapshot.stream_id, snapshot.stream_id, keep),
            )

    async def load_snapshot(
        self, stream_id: str, at_most_version: int | None = None
    ) -> Snapshot | None:
        """The newest snapshot of the stream, or the newest at or below `at_most_version`."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT version, snapshot_schema, state FROM snapshots "
                "WHERE stream_id = %s AND version <= %s ORDER BY version DESC LIMIT 1",
                (stream_id, at_most_version if at_most_version is not None else 2**31 - 1),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        return Snapshot(stream_id=stream_id, version=row[0], snapshot_schema=row[1], state=row[2])

    async def save_projection_state(
        self, stream_id: str, version: int, fingerprint: str, data: bytes
    ) -> None:
        """Keep a stream processor's checkpoint of the stream's fold (the newest one wins)."""
        async with self.connection() as conn:
            await conn.execute(
                "INSERT INTO projection_states (stream_id, version, fingerprint, data) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (stream_id) DO UPDATE SET "
                "version = EXCLUDED.version, fingerprint = EXCLUDED.fingerprint, "
                "data = EXCLUDED.data, saved_at = now() "
                "WHERE projection_states.version < EXCLUDED.version "
                "OR projection_states.fingerprint <> EXCLUDED.fingerprint",
                (stream_id, version, fingerprint, data),
            )

    async def load_projection_state(
        self, stream_id: str, at_most_version: int, fingerprint: str
    ) -> tuple[int, bytes] | None:
        """The checkpoint (version, data) of the stream's fold, if this code wrote it and it is
        not past `at_most_version`."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT version, data FROM projection_states "
                "WHERE stream_id = %s AND version <= %s AND fingerprint = %s",
                (stream_id, at_most_version, fingerprint),
            )
            row = await cur.fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    async def load_checkpoint(self, name: str) -> Position:
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT transaction_id::text, global_position FROM checkpoints WHERE name = %s",
                (name,),
            )
            row = await cur.fetchone()
        return Position(int(row[0]), row[1]) if row else Position.start()

    async def save_checkpoint(self, name: str, position: Position) -> None:
        """Store a reader's position without waiting for the disk: losing the newest checkpoint
        in a crash only means some events are delivered again, which readers expect anyway."""
        async with self.connection() as conn:
            # One statement, its own transaction (the relay saves one after every batch): the
            # CTE turns synchronous_commit off for it alone (read by the INSERT, so it runs).
            await conn.execute(
                "WITH no_wait AS (SELECT set_config('synchronous_commit', 'off', true)) "
                "INSERT INTO checkpoints (name, transaction_id, global_position) "
                "SELECT %s, %s::text::xid8, %s FROM no_wait ON CONFLICT (name) DO UPDATE SET "
                "transaction_id = EXCLUDED.transaction_id, "
                "global_position = EXCLUDED.global_position, updated_at = now()",
                (name, str(position.transaction_id), position.global_position),
            )

    async def ping(self) -> None:
        async with self.connection() as conn:
            await conn.execute("SELECT 1")

    async def unpublished(self, reader: str, limit: int) -> tuple[int, float]:
        """(events after the `reader` checkpoint, counted up to `limit`; the oldest one's age in
        seconds, 0 when none): how far behind a relay is."""
        async with self.connection() as conn:
            cur = await conn.execute(UNPUBLISHED_SQL, (reader, reader, limit))
            row = await cur.fetchone()
        return (0, 0.0) if row is None else (int(row[0]), float(row[1]))

    async def queues(self, limit: int) -> list[tuple[str, str]]:
        """(tenant id, queue id) of the first `limit` queues, the oldest first."""
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT tenant_id::text, stream_id::text FROM streams "
                "ORDER BY created_at, stream_id LIMIT %s",
                (limit,),
            )
            return [(row[0], row[1]) for row in await cur.fetchall()]

    async def trace_parents(self, transaction_ids: Sequence[int]) -> dict[int, str]:
        """The trace context each of these append transactions kept (tracing on), by id; the
        relay's, which publishes them now and has published every transaction before them."""
        if not transaction_ids:
            return {}
        async with self.connection() as conn:
            cur = await conn.execute(
                TRACE_PARENTS_SQL,
                (str(min(transaction_ids)), [str(t) for t in set(transaction_ids)]),
            )
            return {int(row[0]): row[1] for row in await cur.fetchall()}


class _LoggedSession(PostgresAppendSession):
    """Names the command it appends in the log context: the request's line says which."""

    events = 0  # appended in this transaction (the metrics' group size)

    async def append(
        self,
        appends: Sequence[StreamAppend],
        *,
        idempotency: IdempotencyRecord | None = None,
        tenant_id: str | None = None,
    ) -> None:
        _bind_log(appends)
        self.events += sum(len(a.records) for a in appends)
        await super().append(appends, idempotency=idempotency, tenant_id=tenant_id)


def _bind_log(appends: Sequence[StreamAppend]) -> None:
    """Name the command being appended in the log context: the request's line says which."""
    for first in [r for a in appends[:1] for r in a.records[:1]]:
        logs.bind(tenant=first.tenant_id, queue=first.queue_id, command_id=first.command_id)


def _conflict(
    exc: psycopg.errors.UniqueViolation, stream_ids: Sequence[str]
) -> IdempotencyKeyTaken | ConcurrencyError:
    """What a unique violation of an append means: the key stored by a concurrent request, or
    (a stream's version, a new stream's id) another writer got there first."""
    if exc.diag.constraint_name == "idempotency_keys_pkey":
        return IdempotencyKeyTaken(exc.diag.message_detail or "")
    return ConcurrencyError(",".join(stream_ids), -1)


def _measured(session: _LoggedSession | None, outcome: str, started: float) -> None:
    """An append transaction that wrote events ended (ok, conflict, error): count it."""
    if session is not None and session.events:
        metrics.appended(outcome, session.events, time.perf_counter() - started)
