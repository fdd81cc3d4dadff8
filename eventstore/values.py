"""The event store's values: positions, appends, command context, idempotency, snapshots."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.events import QueueEvent
from domain.recorded import RecordedEvent


@dataclass(frozen=True, slots=True)
class Position:
    """A point in the global order: (transaction id, global position); see migration 0001."""

    transaction_id: int
    global_position: int

    @classmethod
    def start(cls) -> Position:
        return cls(0, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandContext:
    command_id: str
    correlation_id: str
    actor: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamAppend:
    stream_id: str
    tenant_id: str
    # 0 creates the stream; it must not exist yet.
    expected_version: int
    # Versions expected_version + 1, + 2, ... (see `new_records`).
    records: Sequence[RecordedEvent]
    # The store's side tables, filled in by the layer that knows what the events mean (see
    # service_layer/indexing.py): the tickets this stream holds from now on (`ticket_location`),
    # and whether it wants the aging scheduler's visits (`aging_streams`; None: unchanged).
    tickets: Sequence[str] = ()
    ages: bool | None = None


def to_write(appends: Sequence[StreamAppend]) -> list[StreamAppend]:
    """The appends that write something, each checked to follow its expected version."""
    kept = [a for a in appends if a.records]
    for item in kept:
        for offset, record in enumerate(item.records, start=1):
            if record.stream_version != item.expected_version + offset:
                raise ValueError("records must follow the expected version without gaps")
    return kept


def new_records(
    *,
    stream_id: str,
    tenant_id: str,
    expected_version: int,
    events: Sequence[QueueEvent],
    context: CommandContext,
    tickets: Sequence[str] = (),
    ages: bool | None = None,
) -> StreamAppend:
    """Envelope new events for an append. Ids are chosen here so an answer can name them first."""
    records = [
        RecordedEvent(
            event_id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            queue_id=stream_id,
            stream_version=expected_version + offset,
            event=event,
            occurred_at=context.occurred_at,
            command_id=context.command_id,
            correlation_id=context.correlation_id,
            actor=context.actor,
        )
        for offset, event in enumerate(events, start=1)
    ]
    return StreamAppend(
        stream_id=stream_id,
        tenant_id=tenant_id,
        expected_version=expected_version,
        records=records,
        tickets=tickets,
        ages=ages,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotencyRecord:
    """A command's Idempotency-Key, the fingerprint of the request that used it, and the outcome
    the command had (JSON), stored in the append transaction of the events it produced."""

    key: str
    request_hash: bytes
    outcome: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    stream_id: str
    version: int
    snapshot_schema: int
    state: dict[str, Any]


def request_hash(*parts: str | bytes) -> bytes:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.digest()
