"""New subscriptions' confirmations waiting to be put on their delivery topics (migration 0023):
written with the subscription by the API (store/subscriptions.py), sent and cleared by the
notifier's schedules stage (notifications/confirmation.py `fire_confirmations`)."""

from __future__ import annotations

from collections.abc import Sequence

from notifications.messages import Message
from notifications.store.db import Pool, changed, fetch_all


async def pending(pool: Pool, limit: int = 500) -> list[Message]:
    """The confirmations not sent yet, oldest first."""
    rows = await fetch_all(
        pool,
        """SELECT confirmation FROM subscriptions WHERE confirmation IS NOT NULL
           ORDER BY created_at LIMIT %s""",
        (limit,),
    )
    return [Message.from_record(row[0]) for row in rows]


async def sent(pool: Pool, messages: Sequence[Message]) -> None:
    """Kafka has them: cleared (a replica that sent them too made the same ids, sent once)."""
    if messages:
        await changed(
            pool,
            """UPDATE subscriptions SET confirmation = NULL
               WHERE subscription_id = ANY(%s::uuid[]) AND confirmation IS NOT NULL""",
            ([m.subscription_id for m in messages],),
        )
