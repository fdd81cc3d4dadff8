"""The queue service: load the queues a command touches, decide, append; retry on a concurrent
writer. One loop for every command, one stream or two (a transfer). Each process keeps the queues
it worked on in memory, maybe stale (another replica appended meanwhile): the append names the
version decided on, and a stale one fails (ConcurrencyError); the queue is caught up, the command
decided again, and the queue caught up before each command for a while (contention.py). Within
one process a lock per queue keeps commands from racing each other."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from cachetools import LRUCache
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from core.clock import Clock
from domain.commands import CreateQueue, MoveWaiting, TransferTicket
from domain.errors import Rejected
from domain.evolve import evolve
from domain.snapshot import SNAPSHOT_SCHEMA, from_snapshot, to_snapshot
from domain.state import QueueState, initial_state
from eventstore.errors import ConcurrencyError, IdempotencyKeyTaken
from eventstore.port import AppendSession, EventStore
from eventstore.values import Snapshot, StreamAppend
from service_layer.contention import HOT, Contention
from service_layer.deciding import Command, CommandRequest, Idempotency, decide_all, written
from service_layer.errors import IdempotencyKeyReused, NotAssigned, QueueBusy, VersionConflict
from service_layer.flights import Flights
from service_layer.locations import Locations
from service_layer.outcome import Outcome

__all__ = ["Command", "CommandRequest", "Idempotency", "QueueService"]

log = logging.getLogger("vq.commands")

MAX_ATTEMPTS = 12
# A queue's snapshot is written every SNAPSHOT_EVERY events, or every tenth of its tickets' count
# when that is more (a snapshot's cost grows with the state: per event it stays bounded). A held
# state folded forward by an append that failed is rebuilt from the newest snapshot.
SNAPSHOT_EVERY = 100
# The states held between commands, weighed in tickets (`_weight`): a count of queues alone would
# hold 10,000 queues of 5,000 tickets (~30 GB) as readily as 10,000 of ten.
CACHE_TICKETS = 250_000
LOCK_WAIT_S = 2.0
# Times a command on a ticket follows it to the queue it moved to meanwhile before it is
# decided where the ticket is then, refusal and all.
MAX_MOVES = 5


class QueueService:
    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        *,
        snapshot_every: int | None = SNAPSHOT_EVERY,
        cache_tickets: int = CACHE_TICKETS,
    ) -> None:
        self._store = store
        self._clock = clock
        self._snapshot_every = snapshot_every
        self._states: LRUCache[str, QueueState] = LRUCache(cache_tickets, getsizeof=_weight)
        # A queue's lock lives while a command holds or awaits it, and no longer: ids that name
        # nothing (a fuzzer sends thousands) leave no lock behind.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._background: set[asyncio.Task[None]] = set()
        self._contention = Contention()
        self._locations = Locations()
        self._flights = Flights()  # one Idempotency-Key's requests under way at once

    def now(self) -> datetime:
        return self._clock()

    # -- executing -----------------------------------------------------------------------------

    async def execute(self, request: CommandRequest) -> Outcome:
        """Decide and append one command: its outcome, or the stored outcome of its first run
        when it carries an Idempotency-Key already used by the same request. The key is stored with
        the events (a taken key fails the append), so it is read only then, on a refusal (a
        retried call may find nobody left), or when nothing was written."""
        if request.idempotency is None:
            return await self._execute(request)
        key = request.idempotency
        return await self._flights.run(
            request.tenant_id, key, lambda: self._idempotent(request, key)
        )

    async def _idempotent(self, request: CommandRequest, key: Idempotency) -> Outcome:
        try:
            outcome = await self._execute(request)
        except (IdempotencyKeyTaken, Rejected, VersionConflict, QueueBusy):
            replayed = await self._replayed(request.tenant_id, key)
            if replayed is None:
                raise
            return replayed
        if outcome.event_ids:
            return outcome  # its key went in with its events: a first run
        # Nothing written (settings sent again): the first run's answer, if there was one.
        return await self._replayed(request.tenant_id, key) or outcome

    async def _replayed(self, tenant_id: str, idempotency: Idempotency) -> Outcome | None:
        stored = await self._store.find_idempotency(tenant_id, idempotency.key)
        if stored is None:
            return None
        if stored.request_hash != idempotency.request_hash:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used for a different request; use a new key"
            )
        return Outcome.from_json(stored.outcome, replayed=True)

    async def _execute(self, request: CommandRequest) -> Outcome:
        if request.queue_id:
            return await self._run(request, request.queue_id)
        ticket_id = getattr(request.command, "ticket_id", None)
        if not isinstance(ticket_id, str):
            raise ValueError(f"{type(request.command).__name__} names no queue")
        tenant_id = request.tenant_id
        known = self._locations.get(ticket_id, tenant_id)  # where this process last saw it
        where = known or await self._locate(ticket_id, tenant_id)
        for _ in range(MAX_MOVES):
            try:
                return await self._run(request, where)
            except (Rejected, VersionConflict, NotAssigned):
                # Refused where the ticket was (as this process last saw it, or as the index
                # said a moment ago): perhaps it moved since, by a command of another process
                # or of this one. The index says where it is now; if there, and the ticket had
                # not left when the command was decided (it may have left and come back), the
                # refusal stands.
                left = self._left(where, ticket_id)
                now = await self._locate(ticket_id, tenant_id)
                if now == where and not left:
                    raise
                where = now
        return await self._run(request, where)

    def _left(self, queue_id: str, ticket_id: str) -> bool:
        """Whether the ticket had moved out of the queue as this process holds it (after a
        refusal, as it was read under the queue's lock)."""
        state = self._states.get(queue_id)
        ticket = None if state is None else state.tickets.get(ticket_id)
        return ticket is not None and ticket.status == "transferred"

    async def _run(self, request: CommandRequest, queue_id: str) -> Outcome:
        streams = [queue_id]
        if isinstance(request.command, TransferTicket | MoveWaiting):
            if request.command.to_queue_id == queue_id:
                moving = "a ticket" if isinstance(request.command, TransferTicket) else "a line"
                raise Rejected("validation", f"{moving} cannot be moved to its own queue")
            streams.append(request.command.to_queue_id)
        async with self._turn(*streams):
            try:
                # The usual case: this process wrote the queue last, so the state it holds is
                # the queue's; one statement appends (and checks that nobody else wrote since).
                if (level := self._contention.level(streams)) < HOT:
                    if level:
                        await self._catch_up(streams)  # another replica writes these too
                    if (decided := await self._attempt_cached(request, streams)) is not None:
                        if level:
                            self._contention.fine(streams)
                        return decided
                return await self._attempt(request, streams)  # read under the locks, decide
            except ConcurrencyError:
                self._contention.saw(streams)
            # Another writer (another replica) appended first: catch up and decide again, at
            # once and then after jittered pauses. Only now is a retry loop built: it costs tens
            # of microseconds, which every command would otherwise pay.
            try:
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception_type(ConcurrencyError),
                    stop=stop_after_attempt(MAX_ATTEMPTS - 1),
                    wait=wait_random_exponential(multiplier=0.001, max=0.05),
                    reraise=True,
                ):
                    with attempt:
                        return await self._attempt(request, streams)
            except ConcurrencyError:
                pass
        raise VersionConflict(f"queue {', '.join(streams)} kept changing; retry the command")

    async def _attempt_cached(self, request: CommandRequest, streams: list[str]) -> Outcome | None:
        """Decide on the states this process holds and append in one statement, which takes the
        streams' locks and fails with ConcurrencyError if another writer (a replica) appended
        since. None when a state is not held, or when the decision was a refusal: a refusal
        must come from the queue as it is, so `_attempt` decides again after reading it."""
        states = [self._states.get(stream) for stream in streams]
        if any(state is None for state in states):
            return None
        held = [state for state in states if state is not None]
        try:
            self._check(request, held)
            produced = decide_all(held, request.command, request.context.occurred_at)
        except (Rejected, VersionConflict):
            return None  # nothing was folded in: the states are sound
        try:
            appends, outcome, stored = written(request, held, produced)
            await self._store.append(appends, idempotency=stored, tenant_id=request.tenant_id)
        except BaseException:
            self._forget(streams)  # folded forward, maybe not written: rebuilt when next used
            raise
        self._committed(appends, held)
        return outcome

    async def _catch_up(self, streams: list[str]) -> None:
        """Fold into the held states what was appended since (no lock: the append checks)."""
        for stream in streams:
            if (state := self._states.get(stream)) is not None:
                await _caught_up(self._store, state)

    async def _attempt(self, request: CommandRequest, streams: list[str]) -> Outcome:
        """One try under the streams' write locks; ConcurrencyError if another writer won."""
        bases = [await self._base(stream) for stream in streams]
        states: list[QueueState] = []
        try:
            async with self._store.session(streams) as session:
                states = [await _caught_up(session, base) for base in bases]
                self._check(request, states)
                produced = decide_all(states, request.command, request.context.occurred_at)
                appends, outcome, stored = written(request, states, produced)
                await session.append(appends, idempotency=stored, tenant_id=request.tenant_id)
        except (Rejected, VersionConflict, NotAssigned):
            # Refused before anything was folded in: the caught-up states are sound.
            for state in states:
                self._remember(state)
            raise
        except BaseException:
            self._forget(streams)  # folded forward, maybe not written: rebuilt when next used
            raise
        self._committed(appends, states)
        return outcome

    def _forget(self, streams: Sequence[str]) -> None:
        for stream in streams:
            self._states.pop(stream, None)

    def _committed(self, appends: Sequence[StreamAppend], states: Sequence[QueueState]) -> None:
        self._locations.written(appends)
        for append, state in zip(appends, states, strict=True):
            self._remember(state)
            self._maybe_snapshot(append, state)

    def _check(self, request: CommandRequest, states: Sequence[QueueState]) -> None:
        if not isinstance(request.command, CreateQueue):
            for state in states:
                _check_owner(state, request.tenant_id)  # another tenant's: a 404, not a 403
        if request.queues is not None:  # staff with assignments: theirs only, a move's target too
            for state in states:
                if state.queue_id not in request.queues:
                    raise NotAssigned(f"you are not assigned to queue {state.queue_id}")
        expected = request.expected_version
        if expected is not None and states[0].version != expected:
            raise VersionConflict(
                f"queue {states[0].queue_id} is at version {states[0].version}, not {expected}"
            )

    async def _locate(self, ticket_id: str, tenant_id: str) -> str:
        """The queue that holds the ticket now, as the index says (remembered from then on);
        another tenant's ticket does not exist."""
        found = await self._store.ticket_location(ticket_id)
        if found is None or found[0] != tenant_id:
            raise Rejected("not-found", f"ticket {ticket_id} not found")
        self._locations.learned(ticket_id, found)
        return found[1]

    # -- loading -------------------------------------------------------------------------------

    async def load(self, tenant_id: str, queue_id: str) -> QueueState:
        """The queue as of its newest version, or Rejected(not-found) for another tenant's. The
        caller must not change it; it is the cached state, folded in place under the lock."""
        async with self._turn(queue_id):
            state = await _caught_up(self._store, await self._base(queue_id))
            self._remember(state)
        _check_owner(state, tenant_id)
        return state

    async def _base(self, queue_id: str) -> QueueState:
        """The cached state, else the newest snapshot, else nothing: callers catch it up."""
        state = self._states.get(queue_id)
        if state is not None:
            return state
        snapshot = await self._store.load_snapshot(queue_id)
        if snapshot is None or snapshot.snapshot_schema != SNAPSHOT_SCHEMA:
            return initial_state(queue_id)
        return from_snapshot(snapshot.state)

    def _remember(self, state: QueueState) -> None:
        """Hold the state for the next command (weighed again: it grew or shrank). One that
        outweighs the whole cache is not held: each command then reads its snapshot."""
        if not state.created:  # never cache ids that name nothing: they cost memory, mean nothing
            return
        # Let go first: cachetools makes room for the whole new weight beside the old one.
        self._states.pop(state.queue_id, None)
        if _weight(state) <= self._states.maxsize:
            self._states[state.queue_id] = state

    @asynccontextmanager
    async def _turn(self, *queue_ids: str) -> AsyncIterator[None]:
        """This process's turn on the queues, waited for at most LOCK_WAIT_S: past the point
        where commands arrive faster than they commit, waiting longer only grows the backlog
        (every caller times out); a quick 503 with Retry-After lets clients back off."""
        ordered = sorted(set(queue_ids))  # one order: no deadlock
        held: list[asyncio.Lock] = []
        try:
            try:
                async with asyncio.timeout(LOCK_WAIT_S):
                    for queue_id in ordered:
                        lock = self._lock(queue_id)
                        await lock.acquire()
                        held.append(lock)
            except TimeoutError:
                raise QueueBusy(f"queue {', '.join(queue_ids)} is busy; retry shortly") from None
            yield
        finally:
            for lock in held:
                lock.release()

    def _lock(self, queue_id: str) -> asyncio.Lock:
        return self._locks.setdefault(queue_id, asyncio.Lock())

    # -- snapshots -----------------------------------------------------------------------------

    def _maybe_snapshot(self, append: StreamAppend, state: QueueState) -> None:
        every = self._snapshot_every
        if not append.records or every is None:
            return
        every = max(every, len(state.tickets) // 10)
        if state.version // every == append.expected_version // every:
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


async def _caught_up(reader: AppendSession | EventStore, state: QueueState) -> QueueState:
    """Fold in whatever was appended since `state` (read under the stream's write lock when
    `reader` is a session)."""
    for recorded in await reader.read_stream(state.queue_id, state.version):
        evolve(state, recorded.event)
    return state


def _check_owner(state: QueueState, tenant_id: str) -> None:
    if not state.created or state.tenant_id != tenant_id:
        raise Rejected("not-found", f"queue {state.queue_id} not found")


def _weight(state: QueueState) -> int:
    """What a held state costs the cache: its tickets (~600 bytes each), and one for the rest."""
    return 1 + len(state.tickets)
