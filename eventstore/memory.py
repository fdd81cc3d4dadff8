"""The event store kept in the process: the same contract as PostgreSQL, nothing on disk.

For the simulator and the service layer's unit tests, so they run the real `QueueService` without
a server. It passes the contract suite the PostgreSQL store passes (`tests/contract/eventstore.py`):
the same versions, conflicts, idempotency, global order and side tables. Writers of one stream
take turns on an asyncio lock, as they do on PostgreSQL's advisory lock; a session's appends are
kept only if it ends without an exception, all together, like a transaction.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from domain.recorded import RecordedEvent
from eventstore.errors import ConcurrencyError, IdempotencyKeyTaken
from eventstore.values import IdempotencyRecord, Position, Snapshot, StreamAppend, to_write


@dataclass(slots=True)
class _Stream:
    tenant_id: str
    events: list[RecordedEvent] = field(default_factory=list)
    ages: bool = False

    @property
    def version(self) -> int:
        return len(self.events)


class InMemoryAppendSession:
    def __init__(self, store: InMemoryEventStore) -> None:
        self._store = store
        self._appends: list[StreamAppend] = []
        self._idempotency: tuple[str | None, IdempotencyRecord] | None = None

    async def read_stream(self, stream_id: str, after_version: int) -> list[RecordedEvent]:
        return await self._store.read_stream(stream_id, after_version)

    async def append(
        self,
        appends: Sequence[StreamAppend],
        *,
        idempotency: IdempotencyRecord | None = None,
        tenant_id: str | None = None,
    ) -> None:
        appends = to_write(appends)
        if not appends:
            return
        self._appends.extend(appends)
        if idempotency is not None:
            self._idempotency = (tenant_id, idempotency)

    def commit(self) -> None:
        """Check everything first, then change everything: all or nothing."""
        store = self._store
        for item in self._appends:
            stream = store._streams.get(item.stream_id)
            current = 0 if stream is None else stream.version
            if current != item.expected_version:
                raise ConcurrencyError(item.stream_id, item.expected_version)
        if self._idempotency is not None:
            tenant_id, record = self._idempotency
            if (tenant_id, record.key) in store._idempotency:
                raise IdempotencyKeyTaken(f"key {record.key!r} exists")
            store._idempotency[(tenant_id, record.key)] = record
        if self._appends:
            store._commits += 1
        for item in self._appends:
            store._write(item)


class InMemoryEventStore:
    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}
        # The global order: (commit number, position); one commit per session, as in PostgreSQL
        # a transaction id per append transaction.
        self._log: list[tuple[Position, RecordedEvent]] = []
        self._commits = 0
        self._tickets: dict[str, tuple[str, str]] = {}
        self._idempotency: dict[tuple[str | None, str], IdempotencyRecord] = {}
        self._snapshots: dict[str, dict[int, Snapshot]] = {}
        self._projection_states: dict[str, tuple[int, str, bytes]] = {}
        self._checkpoints: dict[str, Position] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # -- writing ---------------------------------------------------------------------------------

    @asynccontextmanager
    async def session(self, stream_ids: Sequence[str]) -> AsyncIterator[InMemoryAppendSession]:
        held: list[asyncio.Lock] = []
        try:
            for stream_id in sorted(set(stream_ids)):  # one order for everybody: no deadlock
                lock = self._locks.setdefault(stream_id, asyncio.Lock())
                await lock.acquire()
                held.append(lock)
            session = InMemoryAppendSession(self)
            yield session
            session.commit()
        finally:
            for lock in held:
                lock.release()

    async def append(
        self,
        appends: Sequence[StreamAppend],
        *,
        idempotency: IdempotencyRecord | None = None,
        tenant_id: str | None = None,
    ) -> None:
        async with self.session([a.stream_id for a in appends]) as session:
            await session.append(appends, idempotency=idempotency, tenant_id=tenant_id)

    def _write(self, item: StreamAppend) -> None:
        stream = self._streams.setdefault(item.stream_id, _Stream(item.tenant_id))
        for record in item.records:
            position = len(self._log) + 1
            stored = dataclasses.replace(record, global_position=position)
            stream.events.append(stored)
            self._log.append((Position(self._commits, position), stored))
        for ticket_id in item.tickets:
            known = self._tickets.get(ticket_id)
            if known is None or known[0] == item.tenant_id:
                self._tickets[ticket_id] = (item.tenant_id, item.stream_id)
        if item.ages is not None:
            stream.ages = item.ages

    # -- reading ---------------------------------------------------------------------------------

    async def read_stream(
        self, stream_id: str, after_version: int = 0, up_to_version: int | None = None
    ) -> list[RecordedEvent]:
        stream = self._streams.get(stream_id)
        if stream is None:
            return []
        end = stream.version if up_to_version is None else min(up_to_version, stream.version)
        return stream.events[max(after_version, 0) : max(end, 0)]

    async def read_all(
        self, after: Position, limit: int = 1000
    ) -> list[tuple[Position, RecordedEvent]]:
        # Sessions commit whole, so the log is already in commit order.
        start = after.global_position
        return self._log[start : start + limit]

    async def read_horizon(self) -> tuple[int, int]:
        return len(self._log), len(self._log)  # sessions commit whole: nothing is in flight

    async def stream_owner(self, stream_id: str) -> tuple[str, int] | None:
        stream = self._streams.get(stream_id)
        return None if stream is None else (stream.tenant_id, stream.version)

    async def stream_versions(self) -> list[tuple[str, str, int]]:
        return [(sid, s.tenant_id, s.version) for sid, s in self._streams.items()]

    async def aging_streams(self) -> list[tuple[str, str]]:
        return [(sid, s.tenant_id) for sid, s in self._streams.items() if s.ages]

    async def ticket_location(self, ticket_id: str) -> tuple[str, str] | None:
        return self._tickets.get(ticket_id)

    async def find_idempotency(self, tenant_id: str, key: str) -> IdempotencyRecord | None:
        return self._idempotency.get((tenant_id, key))

    # -- snapshots and checkpoints ---------------------------------------------------------------

    async def save_snapshot(self, snapshot: Snapshot, keep: int = 5) -> None:
        kept = self._snapshots.setdefault(snapshot.stream_id, {})
        kept.setdefault(snapshot.version, snapshot)
        for version in sorted(kept)[:-keep]:
            del kept[version]

    async def load_snapshot(
        self, stream_id: str, at_most_version: int | None = None
    ) -> Snapshot | None:
        kept = self._snapshots.get(stream_id, {})
        versions = [v for v in kept if at_most_version is None or v <= at_most_version]
        return kept[max(versions)] if versions else None

    async def save_projection_state(
        self, stream_id: str, version: int, fingerprint: str, data: bytes
    ) -> None:
        found = self._projection_states.get(stream_id)
        if found is None or found[0] < version or found[1] != fingerprint:
            self._projection_states[stream_id] = (version, fingerprint, data)

    async def load_projection_state(
        self, stream_id: str, at_most_version: int, fingerprint: str
    ) -> tuple[int, bytes] | None:
        found = self._projection_states.get(stream_id)
        if found is None or found[0] > at_most_version or found[1] != fingerprint:
            return None
        return found[0], found[2]

    async def load_checkpoint(self, name: str) -> Position:
        return self._checkpoints.get(name, Position.start())

    async def save_checkpoint(self, name: str, position: Position) -> None:
        self._checkpoints[name] = position

    async def ping(self) -> None:
        return None
