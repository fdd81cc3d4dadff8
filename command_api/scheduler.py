"""The write side's scheduler: issues `PromoteAgedTickets` so that nobody waits forever.

Aging is a command, not a reader's computation: the promotion is an explicit `TicketPromoted` event,
so a line's order is always a pure fold of its events. One API replica at a time runs the
scheduler (a PostgreSQL advisory lock held by its own connection); the others stand by.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection

from command_api.handlers import QueueService
from domain.commands import PromoteAgedTickets
from domain.errors import Rejected
from eventstore.errors import StoreUnavailable
from eventstore.store import CommandContext, EventStore

log = logging.getLogger("vq.scheduler")

# One leader per event store (schema), whatever else shares the database.
_TRY_LEAD = "SELECT pg_try_advisory_lock(hashtextextended(current_schema() || ':scheduler', 0))"

ACTOR = "system:scheduler"


class AgingScheduler:
    def __init__(
        self,
        store: EventStore,
        queues: QueueService,
        connect: Callable[[], Awaitable[AsyncConnection[Any]]],
        *,
        interval_s: float = 15.0,
    ) -> None:
        self._store = store
        self._queues = queues
        self._connect = connect
        self._interval = interval_s
        self.promoted = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._lead(stop)
            except (StoreUnavailable, OSError) as exc:
                log.warning("scheduler paused: %s", exc)
            except psycopg.Error as exc:  # the dedicated (listen / leader) connection died
                log.warning("scheduler lost PostgreSQL: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval)

    async def _lead(self, stop: asyncio.Event) -> None:
        conn = await self._connect()
        try:
            cur = await conn.execute(_TRY_LEAD)
            row = await cur.fetchone()
            if not (row and row[0]):
                return  # another replica leads
            while not stop.is_set():
                await self.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._interval)
        finally:
            await conn.close()

    async def tick(self) -> int:
        """Promote every ticket past its queue's aging bound, in every queue that ages."""
        promoted = 0
        for queue_id, tenant_id in await self._store.aging_streams():
            try:
                state = await self._queues.load(tenant_id, queue_id)
            except Rejected:
                continue
            if state.config.aging_after_seconds is None or not state.waiting:
                continue
            command_id = str(uuid.uuid4())
            context = CommandContext(command_id=command_id, correlation_id=command_id,
                                     actor=ACTOR, occurred_at=self._queues.now())
            _, body = await self._queues.execute(
                tenant_id=tenant_id, queue_id=queue_id, command=PromoteAgedTickets(),
                context=context, respond=lambda outcome: (200, {"n": len(outcome.records)}),
            )
            promoted += int(body["n"])
        self.promoted += promoted
        return promoted
