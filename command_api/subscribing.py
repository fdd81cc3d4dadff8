"""Before a request subscribes anybody (a ticket's or a booking's `notify`, a subscription on a
ticket): an address that was given to several tickets lately is refused, a 429 with the time until
it has room again, before anything is made. And what subscribing needs to tell the person so at
once (notifications/confirmation.py)."""

from __future__ import annotations

from collections.abc import Iterable

from eventstore.port import EventStore
from http_api.deps import Services
from http_api.problems import ProblemError
from notifications.confirmation import Confirming
from notifications.store.db import Pool
from notifications.store.subscriptions import AddressBusy, Wish, check_address_room


async def refuse_busy_addresses(
    pool: Pool,
    tenant_id: str,
    wishes: Iterable[Wish],
    ticket_id: str | None = None,
    *,
    retry_of: tuple[EventStore, str | None] | None = None,
) -> None:
    """`ticket_id`: the ticket (or booking) the wishes are for, when known; else `retry_of`, the
    event store and the request's Idempotency-Key: a retry of a request that went through is
    answered as the first one was, though its address has had its fill since."""
    try:
        await check_address_room(pool, tenant_id, wishes, ticket_id)
    except AddressBusy as exc:
        store, key = retry_of or (None, None)
        if store is not None and key and await store.find_idempotency(tenant_id, key):
            return
        raise ProblemError(
            "rate-limited", str(exc), headers={"Retry-After": str(exc.retry_after_s)}
        ) from None


def confirming(svc: Services, pool: Pool) -> Confirming:
    """The API's notification pool, its read side and public URL: a new subscription's
    confirmation is made by the request that made it."""
    return Confirming(pool, svc.read_models, svc.settings.public_url)
