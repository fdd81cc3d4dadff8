"""The audit trail in PostgreSQL: append under one lock (a gapless, linear chain), read in
order, verify the whole chain in pages, and search one tenant's entries (GET /v1/audit)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from access.audit import GENESIS, AuditEntry, Break, entry_hash, first_break
from eventstore.pool import pooled

# Taken for the append transaction: appends take turns, so each links to the one before. One lock
# per schema (each deployment's chain is its own): another schema's audit writes never wait on it.
_CHAIN_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':audit-chain', 0))"
)
# Tries of an append whose `seq` was taken meanwhile (see append).
_TRIES = 3
_COLUMNS = "seq, tenant_id::text, at, actor, action, subject, detail, prev_hash, hash"
PAGE = 1_000


async def append(
    conn: AsyncConnection[Any],
    *,
    tenant_id: str | None,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry; inside the caller's transaction when there is one (so an act and its
    audit entry commit together), else in one of its own.

    Appends take turns on the chain's lock. One that took another lock (a replica of a version
    before the lock was per schema, during a rolling upgrade) can still take the same `seq`
    first: the primary key refuses the second, which links after it instead (its savepoint, or
    its own transaction, rolled back and tried again), so the chain stays linear."""
    detail = detail or {}
    entry = (tenant_id, at, actor, action, subject, detail)
    for _ in range(_TRIES - 1):
        try:
            return await _append_once(conn, *entry)
        except UniqueViolation:
            pass  # its seq was taken meanwhile: link after it
    return await _append_once(conn, *entry)


async def _append_once(
    conn: AsyncConnection[Any],
    tenant_id: str | None,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None,
    detail: dict[str, Any],
) -> AuditEntry:
    async with conn.transaction():
        await conn.execute(_CHAIN_LOCK)
        row = await (
            await conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        ).fetchone()
        seq, previous = (row[0] + 1, bytes(row[1])) if row else (1, GENESIS)
        digest = entry_hash(previous, seq, tenant_id, at, actor, action, subject, detail)
        await conn.execute(
            """INSERT INTO audit_log
                   (seq, tenant_id, at, actor, action, subject, detail, prev_hash, hash)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (seq, tenant_id, at, actor, action, subject, Jsonb(detail), previous, digest),
        )
    return AuditEntry(seq, tenant_id, at, actor, action, subject, detail, previous, digest)


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    seq, tenant, at, actor, action, subject, detail, prev_hash, digest = row
    return AuditEntry(
        seq, tenant, at, actor, action, subject, detail, bytes(prev_hash), bytes(digest)
    )


async def entries(
    pool: AsyncConnectionPool[Any], *, after: int = 0, page: int = PAGE
) -> AsyncIterator[AuditEntry]:
    """Every entry after `after`, in sequence order, a page at a time."""
    while True:
        async with pool.connection() as conn:
            rows = await (
                await conn.execute(
                    f"SELECT {_COLUMNS} FROM audit_log WHERE seq > %s ORDER BY seq LIMIT %s",
                    (after, page),
                )
            ).fetchall()
        for row in rows:
            yield _entry(row)
        if len(rows) < page:
            return
        after = rows[-1][0]


async def verify(pool: AsyncConnectionPool[Any]) -> tuple[int, Break | None]:
    """How many entries were checked, and the first break (None: the chain is whole)."""
    checked, last = 0, (0, GENESIS)
    async for entry in entries(pool):
        found = first_break([entry], last)
        if found is not None:
            return checked, found
        checked, last = checked + 1, (entry.seq, entry.hash)
    return checked, None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditQuery:
    """Which of one tenant's entries, in which order. `action` is exact, or a prefix when it
    ends with "." or "*" ("key." or "key.*": every key action); `since` is inclusive, `until`
    exclusive; `after` and `before` are sequence numbers (the cursors), both exclusive."""

    tenant_id: str
    newest_first: bool = True
    action: str | None = None
    actor: str | None = None
    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: int | None = None
    before: int | None = None

    def where(self) -> tuple[str, list[Any]]:
        conditions: list[str] = ["tenant_id = %s"]
        params: list[Any] = [self.tenant_id]
        if self.action is not None:
            prefix = self.action.rstrip("*")
            if prefix != self.action or prefix.endswith("."):
                conditions.append("starts_with(action, %s)")
                params.append(prefix)
            else:
                conditions.append("action = %s")
                params.append(self.action)
        for column, value in (
            ("actor = %s", self.actor),
            ("subject = %s", self.subject),
            ("at >= %s", self.since),
            ("at < %s", self.until),
            ("seq > %s", self.after),
            ("seq < %s", self.before),
        ):
            if value is not None:
                conditions.append(column)
                params.append(value)
        return " AND ".join(conditions), params

    def following(self, seq: int) -> AuditQuery:
        """The same query, continued past the entry `seq` in its order."""
        return replace(self, before=seq) if self.newest_first else replace(self, after=seq)


async def search(pool: AsyncConnectionPool[Any], query: AuditQuery, limit: int) -> list[AuditEntry]:
    """One page of a tenant's entries (StoreUnavailable when PostgreSQL is)."""
    where, params = query.where()
    order = "DESC" if query.newest_first else "ASC"
    async with pooled(pool) as conn:
        rows = await (
            await conn.execute(
                f"SELECT {_COLUMNS} FROM audit_log WHERE {where} ORDER BY seq {order} LIMIT %s",
                (*params, limit),
            )
        ).fetchall()
    return [_entry(row) for row in rows]


async def search_all(
    pool: AsyncConnectionPool[Any], query: AuditQuery, *, limit: int | None = None
) -> AsyncIterator[AuditEntry]:
    """Every matching entry (at most `limit`), a page (one short query) at a time: a long
    export holds no connection between pages."""
    left = limit
    while left is None or left > 0:
        size = PAGE if left is None else min(PAGE, left)
        rows = await search(pool, query, size)
        for entry in rows:
            yield entry
        if len(rows) < size:
            return
        query = query.following(rows[-1].seq)
        left = None if left is None else left - len(rows)
