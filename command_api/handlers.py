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
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
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
    AppendSession,
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
LOCK_WAIT_S = 2.0


class QueueBusy(Exception):
    """Too many commands already wait for this queue in this process: shed load, answer 503."""


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
        """The queue as of its newest version, or Rejected(not-found) for another tenant's.

        The caller must not change it; it is the cached state, folded in place under the lock.
        """
        async with self._turn(queue_id):
            state = await self._base(queue_id)
            for recorded in await self._store.read_stream(queue_id, state.version):
                evolve(state, recorded.event)
            self._remember(queue_id, state)
        _check_owner(state, tenant_id)
        return state

    async def _base(self, queue_id: str) -> QueueState:
        """The cached state, else the newest snapshot, else nothing: callers catch it up."""
        state = self._states.get(queue_id)
        if state is not None:
            self._states.move_to_end(queue_id)
            return state
        snapshot = await self._store.load_snapshot(queue_id)
        if snapshot is None or snapshot.snapshot_schema != SNAPSHOT_SCHEMA:
            return initial_state(queue_id)
        return from_snapshot(snapshot.state)

    def _remember(self, queue_id: str, state: QueueState) -> None:
        if not state.created:  # never cache ids that name nothing: they cost memory, mean nothing
            return
        self._states[queue_id] = state
        self._states.move_to_end(queue_id)
        while len(self._states) > CACHE_SIZE:
            evicted, _ = self._states.popitem(last=False)
            self._locks.pop(evicted, None)

    def _forget(self, queue_id: str) -> None:
        self._states.pop(queue_id, None)

    def _lock(self, queue_id: str) -> asyncio.Lock:
        return self._locks.setdefault(queue_id, asyncio.Lock())

    @asynccontextmanager
    async def _turn(self, *queue_ids: str) -> AsyncIterator[None]:
        """This process's turn on the queues, waited for at most LOCK_WAIT_S: past the point
        where commands arrive faster than they commit, waiting longer only grows the backlog
        (every caller times out); a quick 503 with Retry-After lets clients back off."""
        held: list[asyncio.Lock] = []
        try:
            async with asyncio.timeout(LOCK_WAIT_S):
                for queue_id in sorted(set(queue_ids)):  # one order: no deadlock
                    lock = self._lock(queue_id)
                    await lock.acquire()
                    held.append(lock)
        except TimeoutError:
            for lock in held:
                lock.release()
            raise QueueBusy(f"queue {', '.join(queue_ids)} is busy; retry shortly") from None
        try:
            yield
        finally:
            for lock in held:
                lock.release()

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
        """Decide and append one command on one queue; returns the (status, body) it answered."""
        async with self._turn(queue_id):
            for attempt in range(MAX_ATTEMPTS):
                base = await self._base(queue_id)
                try:
                    async with self._store.session([queue_id]) as session:
                        state = await _caught_up(session, base)
                        if not creating:
                            _check_owner(state, tenant_id)
                        if expected_version is not None and state.version != expected_version:
                            raise VersionConflict(
                                f"queue {queue_id} is at version {state.version}, "
                                f"not {expected_version}"
                            )
                        events = decide(state, command, context.occurred_at)
                        append = new_records(
                            stream_id=queue_id,
                            tenant_id=tenant_id,
                            expected_version=state.version,
                            events=events,
                            context=context,
                        )
                        answer = await self._write(session, [append], [state], respond,
                                                   idempotency, tenant_id)
                except ConcurrencyError:
                    self._forget(queue_id)
                    await _backoff(attempt)
                    continue
                except (Rejected, VersionConflict):
                    # Refused before anything was folded in: the caught-up state is sound.
                    self._remember(queue_id, state)
                    raise
                except BaseException:
                    self._forget(queue_id)
                    raise
                self._remember(queue_id, state)
                self._maybe_snapshot(append, state)
                return answer
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
        async with self._turn(source_id, target_id):
            for attempt in range(MAX_ATTEMPTS):
                bases = [await self._base(source_id), await self._base(target_id)]
                try:
                    async with self._store.session([source_id, target_id]) as session:
                        source = await _caught_up(session, bases[0])
                        target = await _caught_up(session, bases[1])
                        _check_owner(source, tenant_id)
                        _check_owner(target, tenant_id)
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
                        answer = await self._write(session, appends, [source, target], respond,
                                                   idempotency, tenant_id)
                except ConcurrencyError:
                    self._forget(source_id)
                    self._forget(target_id)
                    await _backoff(attempt)
                    continue
                except BaseException:
                    self._forget(source_id)
                    self._forget(target_id)
                    raise
                for append, state in zip(appends, (source, target), strict=True):
                    self._remember(append.stream_id, state)
                    self._maybe_snapshot(append, state)
                return answer
            raise VersionConflict("the queues kept changing; retry the transfer")

    async def _write(
        self,
        session: AppendSession,
        appends: Sequence[StreamAppend],
        states: Sequence[QueueState],
        respond: Responder,
        idempotency: Idempotency | None,
        tenant_id: str,
    ) -> tuple[int, dict[str, Any]]:
        # Fold forward in place (cheap, whatever the length of the line). Should the transaction
        # fail after this, the caller drops the cached states and the next command rebuilds them.
        for append, state in zip(appends, states, strict=True):
            for record in append.records:
                evolve(state, record.event)
        records = [r for a in appends for r in a.records]
        status, body = respond(
            Outcome(queue_id=appends[0].stream_id, records=records, state=states[0])
        )
        stored = None
        if idempotency is not None:
            stored = IdempotencyRecord(
                key=idempotency.key,
                request_hash=idempotency.request_hash,
                status_code=status,
                response=body,
            )
        await session.append(appends, idempotency=stored, tenant_id=tenant_id)
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


async def _caught_up(session: AppendSession, state: QueueState) -> QueueState:
    """Fold in whatever was appended since `state`, read under the stream's write lock."""
    for recorded in await session.read_stream(state.queue_id, state.version):
        evolve(state, recorded.event)
    return state


def _check_owner(state: QueueState, tenant_id: str) -> None:
    if not state.created or state.tenant_id != tenant_id:
        raise Rejected("not-found", f"queue {state.queue_id} not found")


async def _backoff(attempt: int) -> None:
    await asyncio.sleep(random.uniform(0, min(0.001 * 2**attempt, 0.05)))
