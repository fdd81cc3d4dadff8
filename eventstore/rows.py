"""Rows of the events table <-> RecordedEvent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.recorded import RecordedEvent
from eventstore.serialization import from_json

EVENT_COLUMNS = (
    "global_position, transaction_id::text, stream_id::text, stream_version, event_id::text, "
    "tenant_id::text, event_type, schema_version, occurred_at, command_id::text, "
    "correlation_id::text, actor, payload"
)

# (the oldest transaction still writing on the server, the id the next one will have): readers
# in the global order read below the first; a one-off reader of everything waits for the first
# to pass the second it saw (EventStore.read_horizon).
HORIZON_SQL = (
    "SELECT pg_snapshot_xmin(s)::text, pg_snapshot_xmax(s)::text FROM pg_current_snapshot() s"
)


def recorded_from_row(row: Sequence[Any]) -> RecordedEvent:
    (
        position,
        _xid,
        stream_id,
        version,
        event_id,
        tenant_id,
        event_type,
        schema_version,
        occurred_at,
        command_id,
        correlation_id,
        actor,
        payload,
    ) = row
    return RecordedEvent(
        event_id=event_id,
        tenant_id=tenant_id,
        queue_id=stream_id,
        stream_version=version,
        event=from_json(event_type, schema_version, payload),
        occurred_at=occurred_at,
        command_id=command_id,
        correlation_id=correlation_id,
        actor=actor,
        global_position=position,
    )
