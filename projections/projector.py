"""Folds queue events into the Redis read models, batch by batch, each event applied once.

The projector keeps each queue's domain state in memory (the same `domain/` fold as the write
side), so a position is O(log n) and each event writes O(1) keys, and beside it the queue's
wait-time estimators (`estimates.py`), folded from the stream's first event (or from a
checkpoint of that fold, `checkpoint.py`). It trusts nothing it cannot check: an event at or
below the state's version is skipped; a jump in versions is repaired from the event store; a
Redis that disagrees (flushed, rebuilt, another worker got there) makes it reload the queue from
the event store and write the queue's read model whole.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from cachetools import LRUCache

from domain.events import QueueCreated, QueueEvent, QueueReconfigured
from domain.recorded import RecordedEvent
from domain.state import QueueState, position
from eventstore.errors import StoreUnavailable
from eventstore.port import EventStore
from observability import metrics
from projections import checkpoint
from projections.analytics import increment_commands, measure
from projections.changes import Change, Moved, QueueUpdate
from projections.checkpoint import CHECKPOINT_EVERY
from projections.estimates import promised
from projections.layout import Keys
from projections.model import QueueModel
from projections.views import NEXT_SHOWN, dumps, line_member, queue_view
from projections.writer import (
    Batch,
    Command,
    ReadModelWriter,
    eta_commands,
    full_render,
    publish_command,
    recent_commands,
    registration,
    summary_commands,
    ticket_commands,
)

log = logging.getLogger("vq.projector")
# Queues kept in memory (state and estimators: a few hundred kB for a queue with weeks of history).
CACHE_SIZE = 2_000
# Events read per query when a queue is loaded from the event store, and folded between two
# yields to the event loop (a few hundred milliseconds of estimating at most).
LOAD_PAGE = 5_000
YIELD_EVERY = 500
# Queues of one batch whose Redis writes may be on their way at once.
CONCURRENT_WRITES = 16
# After a Redis restart: read models whose versions are checked in one round trip.
RESYNC_CHUNK = 1_000


class Projector:
    def __init__(
        self, store: EventStore, writer: ReadModelWriter, keys: Keys, *, retention_s: int
    ) -> None:
        self._store = store
        self._writer = writer
        self._keys = keys
        self._retention_s = retention_s
        self._states: LRUCache[str, QueueModel] = LRUCache(CACHE_SIZE)
        self.repairs = 0
        self.restores = 0  # queues resumed from a checkpoint

    async def project(self, records: Sequence[RecordedEvent]) -> list[QueueUpdate]:
        """Apply records (any queues, each queue's in order); returns what changed per queue.

        The queues are folded one after the other (CPU) but their Redis writes overlap: while
        one queue's script is on its way, the next queue folds (waiting for each write in turn
        left the worker idle half the time of a batch at 200 commands/s). A queue that failed
        is dropped from memory, the others stand, and the first error is raised once all are
        done: the batch tried again skips what was applied."""
        by_queue: dict[str, list[RecordedEvent]] = {}
        for record in records:
            by_queue.setdefault(record.queue_id, []).append(record)
        gate = asyncio.Semaphore(CONCURRENT_WRITES)

        async def one(queue_id: str, queue_records: list[RecordedEvent]) -> QueueUpdate | None:
            async with gate:
                try:
                    return await self._project_queue(queue_id, queue_records)
                except BaseException:
                    # The cached state was folded forward but Redis may not have been written:
                    # drop it, so that the batch tried again starts from what Redis has.
                    self._states.pop(queue_id, None)
                    raise

        if len(by_queue) == 1:  # no task to make
            ((queue_id, queue_records),) = by_queue.items()
            update = await one(queue_id, queue_records)
            return [] if update is None else [update]
        done = await asyncio.gather(
            *(one(queue_id, queue_records) for queue_id, queue_records in by_queue.items()),
            return_exceptions=True,
        )
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome
        return [update for update in done if isinstance(update, QueueUpdate)]

    async def _project_queue(
        self, queue_id: str, records: list[RecordedEvent], retried: bool = False
    ) -> QueueUpdate | None:
        model = await self._model(queue_id, records[0].tenant_id)
        state, estimates = model.state, model.estimates
        pending = await self._pending(queue_id, state.version, records)
        if not pending:
            return None
        first = state.version
        commands: list[Command] = []
        changes: list[Change] = []
        own: dict[str, str] = {}  # ticket id -> its view (encoded) after the batch
        whole = False
        for record in pending:
            if record.stream_version != state.version + 1:
                raise RuntimeError(
                    f"queue {queue_id}: version {record.stream_version} "
                    f"does not follow {state.version}"
                )
            step_commands, change, needs_whole = _step(self._keys, model, record, self._retention_s)
            commands.extend(step_commands)
            changes.append(change)
            whole = whole or needs_whole
            stored = _stored_view(self._keys, state, change, step_commands)
            if change.ticket_id is not None and stored is not None:
                own[change.ticket_id] = stored
        fresh, dropped = estimates.refresh(state)
        view, newcomer = queue_view(state), estimates.newcomer(state)
        encoded = dumps(view)  # once: stored, and in the live message
        if whole:  # the line is rewritten; the steps' other commands (analytics...) still count
            line = self._keys.line(state.tenant_id, queue_id)
            commands = [c for c in commands if c[1] != line]
            commands.extend(full_render(self._keys, state, estimates))
        else:
            commands.extend(summary_commands(self._keys, state, estimates, encoded, newcomer))
        commands.extend(eta_commands(self._keys, state, fresh, dropped))
        # In the same atomic write: what a follower that reconnects replays (projections/replay)
        commands.extend(recent_commands(self._keys, state, [c.as_dict() for c in changes]))
        update = QueueUpdate(
            tenant_id=state.tenant_id,
            queue_id=queue_id,
            version=state.version,
            view=view,
            changes=changes,
            etas=fresh,
            newcomer=newcomer,
        )
        # And the live push, last (one round trip, not two; published only if the write is
        # made, and no follower can read the read model before it is whole). With the batch's
        # trace context (tracing on): the API's push span continues it.
        message = update.message()
        commands.append(
            publish_command(self._keys, update.tenant_id, queue_id, message, encoded, own)
        )
        batch = Batch(state.tenant_id, queue_id, first, state.version, commands)
        result = await self._writer.apply(batch)
        if result.gap and not retried:
            # Redis is not where our state was (emptied, rebuilt, or another worker moved it
            # on): start again from what Redis has, with the state at exactly that version.
            log.warning(
                "queue %s: Redis has version %d, expected %d; resuming from Redis",
                queue_id,
                result.stored,
                first,
            )
            self._states.pop(queue_id, None)
            self.repairs += 1
            metrics.GAP_REPAIRS.inc()
            return await self._project_queue(queue_id, records, retried=True)
        if not result.applied:
            return None
        if state.version - model.saved >= CHECKPOINT_EVERY:
            await self._save(model)
        return update

    async def _pending(
        self, queue_id: str, version: int, records: list[RecordedEvent]
    ) -> list[RecordedEvent]:
        """The records after `version`, from `version + 1` on: a hole in what Kafka gave us (a
        consumer that started late, Redis emptied under a running worker) is read from the
        system of record."""
        pending = [r for r in records if r.stream_version > version]
        if pending and pending[0].stream_version != version + 1:
            log.warning(
                "queue %s: got version %d after %d; reading the gap from the event store",
                queue_id,
                pending[0].stream_version,
                version,
            )
            self.repairs += 1
            metrics.GAP_REPAIRS.inc()
            missing = await self._store.read_stream(
                queue_id, version, pending[0].stream_version - 1
            )
            pending = missing + pending
        return pending

    async def _model(self, queue_id: str, tenant_id: str) -> QueueModel:
        """The queue at exactly the version its read model in Redis has."""
        model = self._states.get(queue_id)
        if model is not None:
            return model
        stored = await self._writer.stored_version(tenant_id, queue_id)
        model = await self._load(queue_id, stored)
        self._remember(model)
        return model

    async def _load(self, queue_id: str, version: int) -> QueueModel:
        """Fold the queue up to `version` from the event store: from our newest checkpoint at or
        below it, else from its first event (not from a write-side snapshot: the estimators
        learn from the whole history, as a rebuild's do)."""
        model = await self._restored(queue_id, version)
        if model is None:
            model = QueueModel.new(queue_id)
        after = model.state.version
        while after < version:
            records = await self._store.read_stream(
                queue_id, after, min(after + LOAD_PAGE, version)
            )
            if not records:
                break
            for index, record in enumerate(records, start=1):
                model.apply(record.event)
                if index % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # a long history: let heartbeats and others run
            after = records[-1].stream_version
        model.estimates.loaded()
        return model

    async def _restored(self, queue_id: str, version: int) -> QueueModel | None:
        if version == 0:
            return None
        found = await self._store.load_projection_state(queue_id, version, checkpoint.fingerprint())
        if found is None:
            return None
        try:
            model = checkpoint.restore(found[1])
        except Exception:  # any damage (pickle raises many kinds): the full fold is as good
            log.warning(
                "queue %s: checkpoint at version %d unreadable; folding from the start",
                queue_id,
                found[0],
                exc_info=True,
            )
            return None
        if model.state.queue_id != queue_id or model.state.version != found[0]:
            log.warning("queue %s: checkpoint does not match; folding from the start", queue_id)
            return None
        model.saved = found[0]
        self.restores += 1
        return model

    async def _save(self, model: QueueModel) -> None:
        """Checkpoint the fold; a store that is down only means a longer fold some day."""
        state = model.state
        try:
            await self._store.save_projection_state(
                state.queue_id, state.version, checkpoint.fingerprint(), checkpoint.dump(model)
            )
        except StoreUnavailable:
            log.warning(
                "queue %s: checkpoint at version %d not saved (event store down)",
                state.queue_id,
                state.version,
            )
            return
        model.saved = state.version

    async def resync(
        self, streams: Sequence[tuple[str, str, int]], turn: asyncio.Lock | None = None
    ) -> int:
        """Bring every read model behind its stream (Redis lost writes: restarted without them,
        or emptied) up to the store's version; returns how many were behind.

        `turn` is the lock the live batches fold under: taken for one queue at a time, so that
        they go on between two queues of a long resync instead of waiting for all of them. A
        batch that folded a queue first leaves the resync nothing to apply there (what the
        read model has is skipped)."""
        turn = turn or asyncio.Lock()
        behind = 0
        for start in range(0, len(streams), RESYNC_CHUNK):  # a round trip per chunk, not queue
            chunk = streams[start : start + RESYNC_CHUNK]
            versions = await self._writer.stored_versions([(t, q) for q, t, _ in chunk])
            for (queue_id, _, version), stored in zip(chunk, versions, strict=True):
                if stored >= version:
                    continue
                behind += 1
                async with turn:
                    self._states.pop(queue_id, None)  # ahead of Redis, maybe: load what it has
                    await self.project(await self._store.read_stream(queue_id, stored, version))
        return behind

    def _remember(self, model: QueueModel) -> None:
        self._states[model.state.queue_id] = model

    def forget_all(self) -> None:
        """Drop every cached state (partitions were revoked: another worker may move them on)."""
        self._states.clear()


def _step(
    keys: Keys, model: QueueModel, record: RecordedEvent, retention_s: int
) -> tuple[list[Command], Change, bool]:
    """Fold one event and return the commands that mirror it in Redis (O(1) keys); the third
    value says the line must be written whole (a reconfiguration may re-rank every class)."""
    state, estimates = model.state, model.estimates
    event: QueueEvent = record.event
    ticket_id: str | None = getattr(event, "ticket_id", None)
    before = state.tickets.get(ticket_id) if ticket_id else None
    old_member = line_member(state, before) if before and before.status == "waiting" else None
    left = position(state, ticket_id) if ticket_id else None
    was = (before.status, before.counter) if before is not None else (None, None)  # evolve mutates
    # Before evolve: it reads the old ticket (and the range it was shown when it joined).
    measured = measure(state.config, before, event, promised(estimates, ticket_id))
    model.apply(event)
    tenant, queue = state.tenant_id, state.queue_id
    commands: list[Command] = increment_commands(keys, tenant, queue, measured, retention_s)
    change = Change(version=state.version, type=event.TYPE, at=event.at.isoformat())
    if isinstance(event, QueueReconfigured):
        return commands, change, True  # class ranks may have changed: the line is written whole
    if isinstance(event, QueueCreated):
        commands.append(registration(keys, state))
    if ticket_id is not None:
        after = state.tickets.get(ticket_id)
        new_member = line_member(state, after) if after and after.status == "waiting" else None
        if old_member is not None and old_member != new_member:
            commands.append(("ZREM", keys.line(tenant, queue), old_member))
        if new_member is not None and new_member != old_member:
            commands.append(("ZADD", keys.line(tenant, queue), "0", new_member))
        commands.extend(ticket_commands(keys, state, estimates, ticket_id))
        joined = position(state, ticket_id)
        change.ticket_id = ticket_id
        if after is not None:
            change.number, change.status, change.counter = after.number, after.status, after.counter
        change.was, change.was_counter = was
        change.left = left if left != joined else None
        change.joined = joined if left != joined else None
        change.shifted = _shifted(state, ticket_id, change.left, change.joined)
    for evicted in state.last_evicted:
        commands.extend(ticket_commands(keys, state, estimates, evicted))
    return commands, change, False


def _stored_view(
    keys: Keys, state: QueueState, change: Change, commands: list[Command]
) -> str | None:
    """The view (encoded) a step stored for the ticket it changed: the ticket's followers get
    it with the batch's message."""
    if change.ticket_id is None:
        return None
    key = keys.ticket(state.tenant_id, state.queue_id, change.ticket_id)
    found = [str(c[2]) for c in commands if c[0] == "SET" and c[1] == key]
    return found[-1] if found else None


def _shifted(
    state: QueueState, ticket_id: str, left: int | None, joined: int | None
) -> list[Moved]:
    """Tickets among the first NEXT_SHOWN whose position this event changed (by one)."""
    if left is None and joined is None:
        return []
    if left is not None and joined is not None:  # moved within the line (priority change)
        low, high = sorted((left, joined))
    elif left is not None:
        low, high = left, NEXT_SHOWN  # everybody behind moved up
    else:
        assert joined is not None
        low, high = joined + 1, NEXT_SHOWN  # everybody behind moved down
    high = min(high, NEXT_SHOWN, len(state.waiting))
    moved = []
    for index in range(low - 1, high):
        ticket = state.tickets[state.waiting[index][3]]
        if ticket.ticket_id != ticket_id:
            moved.append(Moved(ticket.ticket_id, ticket.number, index + 1))
    return moved
