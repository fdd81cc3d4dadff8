"""Before a request subscribes anybody (a ticket's or a booking's `notify`, a subscription on a
ticket): an address that was given to several tickets lately is refused, a 429 with the time until
it has room again, before anything is made."""

from __future__ import annotations

from collections.abc import Iterable

from http_api.problems import ProblemError
from notifications.store.db import Pool
from notifications.store.subscriptions import AddressBusy, Wish, check_address_room


async def refuse_busy_addresses(
    pool: Pool, tenant_id: str, wishes: Iterable[Wish], ticket_id: str | None = None
) -> None:
    try:
        await check_address_room(pool, tenant_id, wishes, ticket_id)
    except AddressBusy as exc:
        raise ProblemError(
            "rate-limited", str(exc), headers={"Retry-After": str(exc.retry_after_s)}
        ) from None
