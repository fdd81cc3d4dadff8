"""The key store of a person's data in PostgreSQL (migration 0017): one key per ticket, wrapped
under the deployment's secret key (access/sealed.py), its lookup digests beside it; and the
erasure that destroys them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from access.sealed import seal as wrap
from access.sealed import unseal as unwrap
from domain.events import PersonalData
from eventstore.pool import pooled
from privacy.sealing import Details, digests, new_key, seal


@dataclass(frozen=True, slots=True)
class KeyRow:
    """What the store knows of one ticket's key: the key itself until it is erased."""

    key_id: str
    ticket_id: str
    queue_id: str
    created_at: datetime
    key: bytes | None  # None once erased
    erased_at: datetime | None


async def sealed_for(
    pool: AsyncConnectionPool[Any],
    secret_key: str,
    *,
    tenant_id: str,
    queue_id: str,
    ticket_id: str,
    details: Details,
) -> tuple[PersonalData, bool]:
    """The details sealed under `ticket_id`'s key, and whether this call made the key.

    The key is stored before any event names it (a key nothing uses harms nobody; an event whose
    key was never stored could never be opened). A ticket that has a key already (a retry that
    derives the same id) keeps it; one whose key was erased gets a value nobody can open.
    """
    key, key_id = new_key(), str(uuid.uuid4())
    async with pooled(pool) as conn, conn.transaction():
        cur = await conn.execute(
            "INSERT INTO personal_keys (key_id, tenant_id, ticket_id, queue_id, wrapped_key) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (ticket_id) DO NOTHING RETURNING key_id",
            (key_id, tenant_id, ticket_id, queue_id, wrap(secret_key, key)),
        )
        made = await cur.fetchone() is not None
        if not made:
            rows = await rows_for_tickets(conn, secret_key, tenant_id, [ticket_id])
            if rows and rows[0].key is not None:
                key, key_id = rows[0].key, rows[0].key_id
            return seal(key, tenant_id, key_id, details), False
        found = digests(secret_key, tenant_id, details)
        if found:
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    "INSERT INTO personal_lookup (tenant_id, digest, ticket_id) "
                    "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    [(tenant_id, d, ticket_id) for d in found],
                )
    return seal(key, tenant_id, key_id, details), True


async def forget_unused(pool: AsyncConnectionPool[Any], ticket_id: str) -> None:
    """Drop the key made for a ticket that was never taken (its command was refused)."""
    async with pooled(pool) as conn:
        await conn.execute("DELETE FROM personal_keys WHERE ticket_id = %s", (ticket_id,))


_ROW = "key_id::text, ticket_id::text, queue_id::text, created_at, wrapped_key, erased_at"


def _row(secret_key: str, row: Sequence[Any]) -> KeyRow:
    key_id, ticket_id, queue_id, created_at, wrapped, erased_at = row
    key = None if wrapped is None else unwrap(secret_key, bytes(wrapped))
    return KeyRow(key_id, ticket_id, queue_id, created_at, key, erased_at)


async def rows_for_tickets(
    conn: AsyncConnection[Any], secret_key: str, tenant_id: str, ticket_ids: Iterable[str]
) -> list[KeyRow]:
    cur = await conn.execute(
        f"SELECT {_ROW} FROM personal_keys WHERE tenant_id = %s AND ticket_id = ANY(%s::uuid[]) "
        "ORDER BY created_at, key_id",
        (tenant_id, list(ticket_ids)),
    )
    return [_row(secret_key, row) for row in await cur.fetchall()]


async def tickets_by_digest(conn: AsyncConnection[Any], tenant_id: str, digest: bytes) -> list[str]:
    cur = await conn.execute(
        "SELECT ticket_id::text FROM personal_lookup WHERE tenant_id = %s AND digest = %s",
        (tenant_id, digest),
    )
    return [row[0] for row in await cur.fetchall()]


async def destroy(
    conn: AsyncConnection[Any], tenant_id: str, ticket_ids: Sequence[str], actor: str
) -> list[str]:
    """Destroy the keys of `ticket_ids` (and their lookup digests) in the caller's transaction;
    the tickets whose key this erased (those erased before are left as they were)."""
    cur = await conn.execute(
        "UPDATE personal_keys SET wrapped_key = NULL, erased_at = now(), erased_by = %s "
        "WHERE tenant_id = %s AND ticket_id = ANY(%s::uuid[]) AND erased_at IS NULL "
        "RETURNING ticket_id::text",
        (actor, tenant_id, list(ticket_ids)),
    )
    erased = sorted(row[0] for row in await cur.fetchall())
    await conn.execute(
        "DELETE FROM personal_lookup WHERE tenant_id = %s AND ticket_id = ANY(%s::uuid[])",
        (tenant_id, list(ticket_ids)),
    )
    return erased
