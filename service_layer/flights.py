"""Requests with one Idempotency-Key under way at once in one process: the first is decided,
the others wait for it and answer its outcome, replayed.

A kiosk pressed twice, or a client that retries on a timeout while its first try still runs,
sends the same command again and again. Each of them used to be decided and appended in turn,
fail on the taken key, then read the stored outcome: two connections of the pool each, held
while the queue's turn came round. Fifty at once on a busy machine waited over the pool's bound
and were answered 503 (make test, stop 50). Now they cost nothing here: they await the first
one. A different request under the same key, or a first one that failed or wrote nothing, is
run as before (the store refuses a reused key, and says what a no-op's first answer was).
Across processes the store alone decides, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

from service_layer.deciding import Idempotency
from service_layer.outcome import Outcome


class Flights:
    def __init__(self) -> None:
        # (tenant, key) -> the first request's hash, and its outcome once known (None: none to
        # share)
        self._under_way: dict[tuple[str, str], tuple[bytes, asyncio.Future[Outcome | None]]] = {}

    async def run(
        self, tenant_id: str, idempotency: Idempotency, execute: Callable[[], Awaitable[Outcome]]
    ) -> Outcome:
        key = (tenant_id, idempotency.key)
        flight = self._under_way.get(key)
        if flight is not None:
            request_hash, known = flight
            first = await asyncio.shield(known)  # a waiter cancelled leaves the first alone
            if first is not None and request_hash == idempotency.request_hash:
                return replace(first, records=(), replayed=True)  # as the store keeps it
            return await execute()
        done: asyncio.Future[Outcome | None] = asyncio.get_running_loop().create_future()
        self._under_way[key] = (idempotency.request_hash, done)
        outcome: Outcome | None = None
        try:
            outcome = await execute()
            return outcome
        finally:
            del self._under_way[key]
            shared = outcome is not None and (bool(outcome.event_ids) or outcome.replayed)
            done.set_result(outcome if shared else None)
