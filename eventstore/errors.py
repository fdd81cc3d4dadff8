"""The event store's own errors: adapters turn driver errors into these."""

from __future__ import annotations

from core.errors import Unavailable


class EventStoreError(Exception):
    """Base of the errors below."""


class ConcurrencyError(EventStoreError):
    """Another writer appended to the stream since the caller read it: reload and decide again."""

    def __init__(self, stream_id: str, expected_version: int) -> None:
        super().__init__(f"stream {stream_id} is no longer at version {expected_version}")
        self.stream_id = stream_id
        self.expected_version = expected_version


class IdempotencyKeyTaken(EventStoreError):
    """Another request stored this Idempotency-Key first (read its answer and return that)."""


class StoreUnavailable(EventStoreError, Unavailable):
    """PostgreSQL cannot be reached or answered too slowly; the caller should retry later."""

    public_detail = "the event store is unavailable; nothing was changed, retry later"
