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

# The horizon of a reader of the global order: the oldest transaction still running that may
# have written to this database (a reader reads below it, so that no commit of an older one can
# land behind what it has passed). PostgreSQL's snapshot lists the running transactions of every
# database on the server, and one writing for long in another (another application's batch job, a
# forgotten `psql`) held every read model here still; a transaction whose session
# `pg_stat_activity` shows in another database cannot write to this one, and is left out. Only
# those: one not found there (ended since, a prepared transaction, a session not yet listed) is
# waited for, as before. With none running here, the next transaction's id.
HORIZON = (
    "(SELECT COALESCE(min(x), pg_snapshot_xmax(pg_current_snapshot())) "
    "FROM pg_snapshot_xip(pg_current_snapshot()) AS x WHERE NOT EXISTS ("
    "SELECT 1 FROM pg_stat_activity AS a "
    "WHERE a.backend_xid = mod(x::text::bigint, 4294967296)::text::xid "
    "AND a.datname <> current_database()))"
)
# (the horizon, the id the next transaction will have): a one-off reader of everything waits for
# the first to pass the second it saw (EventStore.read_horizon).
HORIZON_SQL = f"SELECT {HORIZON}::text, pg_snapshot_xmax(pg_current_snapshot())::text"


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
