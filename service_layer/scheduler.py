"""The write side's scheduler: issues `PromoteAgedTickets` so that nobody waits forever.

Aging is a command, not a reader's computation: the promotion is an explicit `TicketPromoted` event,
so a line's order is always a pure fold of its events. One process at a time runs the scheduler
(`eventstore/leadership.py`); the others stand by.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import psycopg

from domain.commands import PromoteAgedTickets
from domain.errors import Rejected
from eventstore.errors import StoreUnavailable
from eventstore.leadership import Connect, lead, sleep_or_stop
from eventstore.port import EventStore
from eventstore.values import CommandContext
from service_layer.queues import CommandRequest, QueueService

log = logging.getLogger("vq.scheduler")

ACTOR = "system:scheduler"


class AgingScheduler:
    def __init__(
        self,
        store: EventStore,
        queues: QueueService,
        connect: Connect,
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
                await lead(
                    self._connect,
                    "scheduler",
                    stop,
                    self._interval,
                    lambda _conn: self._tick_until(stop),
                )
            except (StoreUnavailable, OSError) as exc:
                log.warning("scheduler paused: %s", exc)
            except psycopg.Error as exc:  # the dedicated (leader) connection died
                log.warning("scheduler lost PostgreSQL: %s", exc)
            await sleep_or_stop(stop, self._interval)

    async def _tick_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.tick()
            await sleep_or_stop(stop, self._interval)

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
            context = CommandContext(
                command_id=command_id,
                correlation_id=command_id,
                actor=ACTOR,
                occurred_at=self._queues.now(),
            )
            outcome = await self._queues.execute(
                CommandRequest(
                    tenant_id=tenant_id,
                    queue_id=queue_id,
                    command=PromoteAgedTickets(),
                    context=context,
                )
            )
            promoted += len(outcome.records)
        self.promoted += promoted
        return promoted
