"""A person's requests about their data: which tickets are theirs, everything we hold about them
(the right of access), and erasure (the right to be forgotten).

A person is found by a ticket, an e-mail address or a phone number: the tickets whose sealed
details carry that address (through the lookup digests) and those with a notification
subscription to it. Erasure destroys the tickets' keys, removes their subscriptions and the
delivery log of messages sent to them, and records who erased what in the audit trail (ticket
ids only), all in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from access.audit_store import append as audit
from domain.events import PersonalData
from eventstore.pool import pooled
from privacy.keys import KeyRow, destroy, rows_for_tickets, tickets_by_digest
from privacy.sealing import digest, normal_email, normal_phone, open_sealed

Kind = Literal["ticket", "email", "phone"]
_PHONE_CHANNELS = ("sms", "whatsapp")


@dataclass(frozen=True, slots=True)
class Erased:
    tickets: list[str]  # every ticket of the person
    keys_destroyed: list[str]  # the tickets whose key this erasure destroyed
    subscriptions_removed: int


async def find_tickets(
    conn: AsyncConnection[Any], secret_key: str, tenant_id: str, kind: Kind, value: str
) -> list[str]:
    """The tenant's tickets of the person `value` names, sorted (none: an empty list)."""
    if kind == "ticket":
        cur = await conn.execute(
            "SELECT %s::text WHERE EXISTS (SELECT 1 FROM tickets "
            "WHERE ticket_id = %s::uuid AND tenant_id = %s)",
            (value, value, tenant_id),
        )
        return [row[0] for row in await cur.fetchall()]
    found = set(
        await tickets_by_digest(conn, tenant_id, digest(secret_key, tenant_id, kind, value))
    )
    if kind == "email":
        cur = await conn.execute(
            "SELECT ticket_id::text FROM subscriptions WHERE tenant_id = %s AND channel = 'email' "
            "AND lower(btrim(address)) = %s",
            (tenant_id, normal_email(value)),
        )
    else:
        cur = await conn.execute(
            "SELECT ticket_id::text FROM subscriptions WHERE tenant_id = %s "
            "AND channel = ANY(%s) AND regexp_replace(address, '[^0-9+]', '', 'g') = %s",
            (tenant_id, list(_PHONE_CHANNELS), normal_phone(value)),
        )
    found.update(row[0] for row in await cur.fetchall())
    return sorted(found)


async def _taken(conn: AsyncConnection[Any], row: KeyRow) -> dict[str, Any] | None:
    """The event that brought the person's details: the ticket's TicketEnqueued, or the
    booking's AppointmentBooked (a booking's id is its ticket's)."""
    cur = await conn.execute(
        "SELECT payload FROM events WHERE stream_id = %s AND ("
        "(event_type = 'TicketEnqueued' AND payload ->> 'ticket_id' = %s) OR "
        "(event_type = 'AppointmentBooked' AND payload ->> 'appointment_id' = %s)) LIMIT 1",
        (row.queue_id, row.ticket_id, row.ticket_id),
    )
    found = await cur.fetchone()
    return None if found is None else dict(found[0])


async def _details(
    conn: AsyncConnection[Any], tenant_id: str, row: KeyRow | None
) -> dict[str, Any]:
    if row is None:
        return {"details": None, "details_erased_at": None}
    if row.key is None:
        return {"details": None, "details_erased_at": row.erased_at}
    payload = await _taken(conn, row)
    sealed = (payload or {}).get("personal")
    if not sealed:
        return {"details": None, "details_erased_at": None}
    opened = open_sealed(row.key, tenant_id, PersonalData(**sealed))
    return {
        "details": {
            "name": opened.name,
            "phone": opened.phone,
            "email": opened.email,
            "note": opened.note,
        },
        "details_erased_at": None,
    }


async def _subscriptions(
    conn: AsyncConnection[Any], tenant_id: str, ticket_id: str
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT subscription_id::text, channel, address, language, created_at, cancelled_at "
        "FROM subscriptions WHERE tenant_id = %s AND ticket_id = %s ORDER BY created_at",
        (tenant_id, ticket_id),
    )
    names = ("subscription_id", "channel", "address", "language", "created_at", "cancelled_at")
    return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def export(
    pool: AsyncConnectionPool[Any], secret_key: str, tenant_id: str, ticket_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """Everything held about the person on each of `ticket_ids`: the details they gave (opened),
    where the ticket is now, and their notification subscriptions."""
    async with pooled(pool) as conn:
        keys = {
            r.ticket_id: r for r in await rows_for_tickets(conn, secret_key, tenant_id, ticket_ids)
        }
        cur = await conn.execute(
            "SELECT ticket_id::text, queue_id::text FROM tickets "
            "WHERE tenant_id = %s AND ticket_id = ANY(%s::uuid[])",
            (tenant_id, list(ticket_ids)),
        )
        where: dict[str, str] = {row[0]: row[1] for row in await cur.fetchall()}
        found = []
        for ticket_id in ticket_ids:
            found.append(
                {
                    "ticket_id": ticket_id,
                    "queue_id": where.get(ticket_id),
                    **await _details(conn, tenant_id, keys.get(ticket_id)),
                    "subscriptions": await _subscriptions(conn, tenant_id, ticket_id),
                }
            )
    return found


async def erase(
    pool: AsyncConnectionPool[Any],
    tenant_id: str,
    ticket_ids: Sequence[str],
    *,
    actor: str,
    at: datetime,
) -> Erased:
    """Forget the person on `ticket_ids`: their keys destroyed, their subscriptions and the
    messages sent to them deleted, the erasure in the audit trail; all or nothing."""
    async with pooled(pool) as conn, conn.transaction():
        destroyed = await destroy(conn, tenant_id, ticket_ids, actor)
        cur = await conn.execute(
            "DELETE FROM subscriptions WHERE tenant_id = %s AND ticket_id = ANY(%s::uuid[]) "
            "RETURNING subscription_id::text",
            (tenant_id, list(ticket_ids)),
        )
        removed = [row[0] for row in await cur.fetchall()]
        if removed:
            await conn.execute(
                "DELETE FROM deliveries WHERE tenant_id = %s AND destination = ANY(%s)",
                (tenant_id, removed),
            )
        if ticket_ids:
            await audit(
                conn,
                tenant_id=tenant_id,
                at=at,
                actor=actor,
                action="personal-data.erased",
                subject=",".join(ticket_ids),
                detail={"keys_destroyed": len(destroyed), "subscriptions_removed": len(removed)},
            )
    return Erased(list(ticket_ids), destroyed, len(removed))
