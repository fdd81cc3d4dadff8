"""The service layer: load a queue, decide, append; retry on a concurrent writer.

Each API process keeps the queues it worked on in memory. A cached state may be stale (another
replica appended meanwhile); that is safe, because the append names the version the decision was
made on, and a stale one fails with ConcurrencyError, after which the queue is caught up and the
command decided again. Within one process a lock per queue keeps commands from racing each other.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.commands import QueueCommand, TransferTicket
from domain.decide import decide, decide_transfer
from domain.errors import Rejected
from domain.evolve import evolve
from domain.snapshot import SNAPSHOT_SCHEMA, from_snapshot, to_snapshot
from domain.state import QueueState, initial_state
from eventstore.errors import ConcurrencyError
from eventstore.recorded import RecordedEvent
from eventstore.store import (
    CommandContext,
    EventStore,
    IdempotencyRecord,
    Snapshot,
    StreamAppend,
    new_records,
)

log = logging.getLogger("vq.commands")

Clock = Callable[[], datetime]
MAX_ATTEMPTS = 12
SNAPSHOT_EVERY = 500
CACHE_SIZE = 10_000


class VersionConflict(Exception):
    """The queue kept changing under us (or did not match If-Match)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    queue_id: str
    records: list[RecordedEvent]
    state: QueueState  # the queue after the command (the caller must not mutate it)

    @property
    def stream_version(self) -> int:
        return self.state.version


# Builds the answer that an Idempotency-Key stores, from the outcome, before the commit.
Responder = Callable[[Outcome], tuple[int, dict[str, Any]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Idempotency:
    key: str
    request_hash: bytes


class QueueService:
    def __init__(self, store: EventStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._states: OrderedDict[str, QueueState] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._background: set[asyncio.Task[None]] = set()

    # -- loading -------------------------------------------------------------------------------

    async def load(self, tenant_id: str, queue_id: str) -> QueueState:
        """The queue as of its newest version, or Rejected(not-found) for another tenant's."""
        state = await self._catch_up(queue_id)
        if not state.created or state.tenant_id != tenant_id:
            raise Rejected("not-found", f"queue {queue_id} not found")
        return state

    async def _cached(self, queue_id: str) -> QueueState:
        state = self._states.get(queue_id)
        if state is not None:
            self._states.move_to_end(queue_id)
            return state
        state = await self._from_snapshot(queue_id)
        for recorded in await self._store.read_stream(queue_id, state.version):
            evolve(state, recorded.event)
        if state.created:  # never cache ids that name nothing: they cost memory and mean nothing
            self._remember(queue_id, state)
        return state

    async def _catch_up(self, queue_id: str) -> QueueState:
        state = self._states.get(queue_id)
        if state is None:
            return await self._cached(queue_id)
        for recorded in await self._store.read_stream(queue_id, state.version):
            evolve(state, recorded.event)
        return state

    async def _from_snapshot(self, queue_id: str) -> QueueState:
        snapshot = await self._store.load_snapshot(queue_id)
        if snapshot is None or snapshot.snapshot_schema != SNAPSHOT_SCHEMA:
            return initial_state(queue_id)
        return from_snapshot(snapshot.state)

    def _remember(self, queue_id: str, state: QueueState) -> None:
        self._states[queue_id] = state
        self._states.move_to_end(queue_id)
        while len(self._states) > CACHE_SIZE:
            evicted, _ = self._states.popitem(last=False)
            self._locks.pop(evicted, None)

    def _forget(self, queue_id: str) -> None:
        self._states.pop(queue_id, None)

    def _lock(self, queue_id: str) -> asyncio.Lock:
        return self._locks.setdefault(queue_id, asyncio.Lock())

    # -- executing -----------------------------------------------------------------------------

    async def execute(
        self,
        *,
        tenant_id: str,
        queue_id: str,
        command: QueueCommand,
        context: CommandContext,
        respond: Responder,
        idempotency: Idempotency | None = None,
        expected_version: int | None = None,
        creating: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        """Decide and append one command on one queue; returns the stored (status, body)."""
        async with self._lock(queue_id):
            for attempt in range(MAX_ATTEMPTS):
                state = await (self._catch_up(queue_id) if attempt else self._cached(queue_id))
                if not creating and (not state.created or state.tenant_id != tenant_id):
                    raise Rejected("not-found", f"queue {queue_id} not found")
                if expected_version is not None and state.version != expected_version:
                    raise VersionConflict(
                        f"queue {queue_id} is at version {state.version}, not {expected_version}"
                    )
                events = decide(state, command, context.occurred_at)
                append = new_records(
                    stream_id=queue_id,
                    tenant_id=tenant_id,
                    expected_version=state.version,
                    events=events,
                    context=context,
                )
                try:
                    return await self._commit([append], [state], respond, idempotency, tenant_id)
                except ConcurrencyError:
                    await _backoff(attempt)
            raise VersionConflict(f"queue {queue_id} kept changing; retry the command")

    async def transfer(
        self,
        *,
        tenant_id: str,
        source_id: str,
        command: TransferTicket,
        context: CommandContext,
        respond: Responder,
        idempotency: Idempotency | None = None,
    ) -> tuple[int, dict[str, Any]]:
        target_id = command.to_queue_id
        if target_id == source_id:
            raise Rejected("validation", "a ticket cannot be transferred to its own queue")
        first, second = sorted((source_id, target_id))  # one lock order: no deadlock
        async with self._lock(first), self._lock(second):
            for attempt in range(MAX_ATTEMPTS):
                source = await self.load(tenant_id, source_id)
                target = await self._catch_up(target_id)
                if not target.created or target.tenant_id != tenant_id:
                    raise Rejected("not-found", f"queue {target_id} not found")
                out_events, in_events = decide_transfer(
                    source, target, command, context.occurred_at
                )
                appends = [
                    new_records(stream_id=source_id, tenant_id=tenant_id,
                                expected_version=source.version, events=out_events,
                                context=context),
                    new_records(stream_id=target_id, tenant_id=tenant_id,
                                expected_version=target.version, events=in_events,
                                context=context),
                ]
                try:
                    return await self._commit(
                        appends, [source, target], respond, idempotency, tenant_id
                    )
                except ConcurrencyError:
                    await _backoff(attempt)
            raise VersionConflict("the queues kept changing; retry the transfer")

    async def _commit(
        self,
        appends: Sequence[StreamAppend],
        states: Sequence[QueueState],
        respond: Responder,
        idempotency: Idempotency | None,
        tenant_id: str,
    ) -> tuple[int, dict[str, Any]]:
        # Fold forward in place (cheap, whatever the length of the line); if the append fails the
        # cached states are dropped and rebuilt from the store on the next attempt.
        for append, state in zip(appends, states, strict=True):
            for record in append.records:
                evolve(state, record.event)
        records = [r for a in appends for r in a.records]
        outcome = Outcome(queue_id=appends[0].stream_id, records=records, state=states[0])
        try:
            status, body = respond(outcome)
            if records:
                stored = None
                if idempotency is not None:
                    stored = IdempotencyRecord(
                        key=idempotency.key,
                        request_hash=idempotency.request_hash,
                        status_code=status,
                        response=body,
                    )
                await self._store.append(
                    [a for a in appends if a.records], idempotency=stored, tenant_id=tenant_id
                )
        except BaseException:
            for append in appends:
                self._forget(append.stream_id)
            raise
        for append, state in zip(appends, states, strict=True):
            if state.created:
                self._remember(append.stream_id, state)
            self._maybe_snapshot(append, state)
        return status, body

    def _maybe_snapshot(self, append: StreamAppend, state: QueueState) -> None:
        if not append.records:
            return
        if state.version // SNAPSHOT_EVERY == append.expected_version // SNAPSHOT_EVERY:
            return
        snapshot = Snapshot(
            stream_id=append.stream_id,
            version=state.version,
            snapshot_schema=SNAPSHOT_SCHEMA,
            state=to_snapshot(state),
        )
        task = asyncio.create_task(self._save_snapshot(snapshot))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _save_snapshot(self, snapshot: Snapshot) -> None:
        try:
            await self._store.save_snapshot(snapshot)
        except Exception:  # a snapshot is an optimisation; the events are the truth
            log.warning("could not save snapshot of %s", snapshot.stream_id, exc_info=True)

    def now(self) -> datetime:
        return self._clock()


async def _backoff(attempt: int) -> None:
    await asyncio.sleep(random.uniform(0, min(0.001 * 2**attempt, 0.05)))
