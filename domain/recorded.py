"""The envelope every stored event travels in: the domain fact plus who, when, where and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.events import QueueEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedEvent:
    event_id: str
    tenant_id: str
    # One stream per queue: the stream id is the queue id.
    queue_id: str
    stream_version: int
    event: QueueEvent
    occurred_at: datetime
    command_id: str
    correlation_id: str
    # The API key id or user id that gave the command ("system:scheduler" for the write side's own).
    actor: str
    # Position in the store's global order; None when the event was decoded from Kafka.
    global_position: int | None = None

    @property
    def event_type(self) -> str:
        return self.event.TYPE

    @property
    def schema_version(self) -> int:
        return self.event.VERSION
