"""Subscriptions stopped from the message itself: one by its opt-out link (any tenant's: the link
names the subscription, and the deployment's secret vouches for it), or every one of a phone
number that replied STOP or that the provider says has opted out (in every tenant: the sending
number is the deployment's, and the person's STOP is to that number).

Stopping is what `DELETE .../subscriptions/{id}` does (`cancelled_at`), so the messages already
on their way are dropped when they are sent (notifications/obsolete.py: "the subscription was
cancelled"). The address is matched exactly as stored (E.164, checked at subscription).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.ids import is_uuid
from notifications.store.db import Pool, changed, fetch_all, fetch_one


@dataclass(frozen=True, slots=True)
class Subscribed:
    """What the opt-out page says of a subscription (never its address)."""

    subscription_id: str
    tenant_id: str
    queue_id: str
    ticket_id: str
    channel: str
    language: str
    number: str | None  # the ticket's number as the notifier last saw it
    cancelled: bool


async def find(pool: Pool, subscription_id: str) -> Subscribed | None:
    """The subscription, cancelled or not; None when there is none (its data erased)."""
    if not is_uuid(subscription_id):
        return None
    row = await fetch_one(
        pool,
        """SELECT subscription_id::text, tenant_id::text, queue_id::text, ticket_id::text,
                  channel, language, watch ->> 'number', cancelled_at IS NOT NULL
           FROM subscriptions WHERE subscription_id = %s""",
        (subscription_id,),
    )
    if row is None:
        return None
    sid, tenant, queue, ticket, channel, language, number, cancelled = row
    return Subscribed(sid, tenant, queue, ticket, channel, language, number, bool(cancelled))


async def stop(pool: Pool, subscription_id: str) -> bool:
    """Stop one subscription; False when it was stopped already (stopping twice is once)."""
    count = await changed(
        pool,
        """UPDATE subscriptions SET cancelled_at = now()
           WHERE subscription_id = %s AND cancelled_at IS NULL""",
        (subscription_id,),
    )
    return count > 0


async def stop_number(pool: Pool, channel: str, address: str) -> list[tuple[str, str]]:
    """Stop every live subscription of this number on this channel, in every tenant; the
    (tenant, subscription) of each one stopped."""
    rows = await fetch_all(
        pool,
        """UPDATE subscriptions SET cancelled_at = now()
           WHERE channel = %s AND address = %s AND cancelled_at IS NULL
           RETURNING tenant_id::text, subscription_id::text""",
        (channel, address),
    )
    return [(str(tenant), str(sid)) for tenant, sid in rows]
