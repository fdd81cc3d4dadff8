"""The event store as the rest of the code sees it: a port with two adapters.

`eventstore/postgres.py` is the system of record; `eventstore/memory.py` keeps everything in the
process (the simulator, the service layer's unit tests). Both pass the same contract suite
(`tests/contract/eventstore.py`). Errors are the store's own (`eventstore/errors.py`), never a
driver's.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from domain.recorded import RecordedEvent
from eventstore.values import IdempotencyRecord, Position, Snapshot, StreamAppend


class AppendSession(Protocol):
    """One append transaction that holds the write lock of its streams."""

    async def read_stream(self, stream_id: str, after_version: int) -> list[RecordedEvent]:
        """The stream's events after `after_version`, as committed (the lock is held)."""
        ...

    async def append(
        self,
        appends: Sequence[StreamAppend],
        *,
        idempotency: IdempotencyRecord | None = None,
        tenant_id: str | None = None,
    ) -> None:
        """Write the appends (and the key) when the session ends without an exception.

        A stream not at its `expected_version` raises ConcurrencyError, a key stored first by
        another command IdempotencyKeyTaken; either way nothing of the session is kept.
        """
        ...


class EventStore(Protocol):
    def session(self, stream_ids: Sequence[str]) -> AbstractAsyncContextManager[AppendSession]:
        """Read, decide and append under the streams' write locks; leaving the block commits."""
        ...

    async def append(
        self,
        appends: Sequence[StreamAppend],
        *,
        idempotency: IdempotencyRecord | None = None,
        tenant_id: str | None = None,
    ) -> None:
        """Append to one or more streams atomically (a session of its own)."""
        ...

    async def read_stream(
        self, stream_id: str, after_version: int = 0, up_to_version: int | None = None
    ) -> list[RecordedEvent]: ...

    async def read_all(
        self, after: Position, limit: int = 1000
    ) -> list[tuple[Position, RecordedEvent]]:
        """Events after `after` in the global order; an event is never passed over because a
        transaction that wrote before it committed after it (see migration 0001)."""
        ...

    async def read_horizon(self) -> tuple[int, int]:
        """(the oldest transaction still writing, the id the next one will have): `read_all`
        returns events of transactions below the first only, and every transaction begun before
        now is below the second. A one-off read of everything (a rebuild) waits for the first
        to pass the second it saw when it began."""
        ...

    async def stream_owner(self, stream_id: str) -> tuple[str, int] | None:
        """(tenant id, current version) of a stream, or None if it does not exist."""
        ...

    async def stream_versions(self) -> list[tuple[str, str, int]]:
        """(stream id, tenant id, current version) of every stream."""
        ...

    async def aging_streams(self) -> list[tuple[str, str]]:
        """(stream id, tenant id) of every stream whose newest append said `ages=True`."""
        ...

    async def ticket_location(self, ticket_id: str) -> tuple[str, str] | None:
        """(tenant id, stream id) of the stream that holds the ticket now."""
        ...

    async def find_idempotency(self, tenant_id: str, key: str) -> IdempotencyRecord | None: ...

    async def save_snapshot(self, snapshot: Snapshot, keep: int = 5) -> None:
        """Store a snapshot; only the newest `keep` of the stream stay."""
        ...

    async def load_snapshot(
        self, stream_id: str, at_most_version: int | None = None
    ) -> Snapshot | None: ...

    async def save_projection_state(
        self, stream_id: str, version: int, fingerprint: str, data: bytes
    ) -> None:
        """Keep a stream processor's checkpoint of a stream's fold (the newest one wins)."""
        ...

    async def load_projection_state(
        self, stream_id: str, at_most_version: int, fingerprint: str
    ) -> tuple[int, bytes] | None: ...

    async def load_checkpoint(self, name: str) -> Position: ...

    async def save_checkpoint(self, name: str, position: Position) -> None: ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        ...
