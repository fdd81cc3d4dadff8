"""A booking's reminders in PostgreSQL (migration 0018): planned with the booking, moved with it,
taken away with it; fired by notifications/reminders.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifications.store.db import Pool, connection, fetch_all


@dataclass(frozen=True, slots=True)
class DueReminder:
    subscription_id: str
    tenant_id: str
    queue_id: str
    ticket_id: str
    channel: str
    language: str
    slot_at: datetime
    due_at: datetime
    time_zone: str
    queue_name: str


async def plan(
    pool: Pool,
    tenant_id: str,
    queue_id: str,
    ticket_id: str,
    subscription_ids: Sequence[str],
    slot_at: datetime,
    minutes: int,
    *,
    time_zone: str,
    queue_name: str,
) -> None:
    """A reminder `minutes` before `slot_at` for each subscription (a retry plans the same)."""
    due = slot_at - timedelta(minutes=minutes)
    rows = [
        (s, tenant_id, queue_id, ticket_id, minutes, time_zone, queue_name, slot_at, due)
        for s in subscription_ids
    ]
    async with connection(pool) as conn, conn.cursor() as cur:
        await cur.executemany(
            """INSERT INTO reminders (subscription_id, tenant_id, queue_id, ticket_id, minutes,
                                      time_zone, queue_name, slot_at, due_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (subscription_id) DO NOTHING""",
            rows,
        )


async def move(pool: Pool, tenant_id: str, ticket_id: str, slot_at: datetime) -> None:
    """The booking moved: its reminders are due before the new slot, and armed again."""
    async with connection(pool) as conn:
        await conn.execute(
            """UPDATE reminders SET slot_at = %s, due_at = %s - minutes * interval '1 minute',
                   sent_at = NULL
               WHERE tenant_id = %s AND ticket_id = %s""",
            (slot_at, slot_at, tenant_id, ticket_id),
        )


async def follow(
    pool: Pool,
    tenant_id: str,
    from_queue: str,
    to_queue: str,
    *,
    time_zone: str,
    queue_name: str,
) -> None:
    """Bookings moved from `from_queue` to `to_queue` (a merge, a split, a site closed): their
    reminders name the queue that has them now, in its time zone."""
    async with connection(pool) as conn:
        await conn.execute(
            """UPDATE reminders r SET queue_id = t.queue_id, time_zone = %s, queue_name = %s
               FROM tickets t
               WHERE r.ticket_id = t.ticket_id AND r.tenant_id = %s AND r.queue_id = %s
                 AND t.queue_id = %s""",
            (time_zone, queue_name, tenant_id, from_queue, to_queue),
        )


async def drop(pool: Pool, tenant_id: str, ticket_id: str) -> None:
    """The booking was cancelled: no reminder, and its subscriptions end."""
    async with connection(pool) as conn, conn.transaction():
        await conn.execute(
            "DELETE FROM reminders WHERE tenant_id = %s AND ticket_id = %s", (tenant_id, ticket_id)
        )
        await conn.execute(
            """UPDATE subscriptions SET cancelled_at = now()
               WHERE tenant_id = %s AND ticket_id = %s AND cancelled_at IS NULL""",
            (tenant_id, ticket_id),
        )


async def due(pool: Pool, now: datetime, limit: int = 500) -> list[DueReminder]:
    rows = await fetch_all(
        pool,
        """SELECT r.subscription_id::text, r.tenant_id::text, r.queue_id::text,
                  r.ticket_id::text, s.channel, s.language, r.slot_at, r.due_at,
                  r.time_zone, r.queue_name
           FROM reminders r JOIN subscriptions s USING (subscription_id)
           WHERE r.sent_at IS NULL AND r.due_at <= %s AND s.cancelled_at IS NULL
             AND r.slot_at > %s
           ORDER BY r.due_at LIMIT %s""",
        (now, now, limit),
    )
    return [DueReminder(*row) for row in rows]


async def sent(pool: Pool, fired: Sequence[DueReminder]) -> None:
    """Mark them sent, each only if it was not moved meanwhile (a moved one fires again)."""
    async with connection(pool) as conn, conn.cursor() as cur:
        await cur.executemany(
            "UPDATE reminders SET sent_at = now() WHERE subscription_id = %s AND due_at = %s",
            [(r.subscription_id, r.due_at) for r in fired],
        )
