"""Scheduled and recurring messages: an announcement to everyone waiting, a manager's summary.

`next_at` is the next occurrence in UTC (NULL: nothing more to fire). Any replica's firing loop
may find a schedule due; `advance_schedule` moves it on with a compare-and-set, so exactly one of
them fires each occurrence.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from notifications.schedules import Recurrence, next_occurrence
from notifications.store.db import Pool, changed, fetch_all, fetch_one

KINDS = ("announcement", "summary")

_COLUMNS = (
    "schedule_id::text, tenant_id::text, queue_id::text, kind, recurrence, local_time, time_zone, "
    "next_at, channel, address, language, text, fired, created_at"
)


class ScheduleInPast(ValueError):
    """A one-off schedule whose moment has already passed: it would never fire."""


@dataclass(frozen=True, slots=True)
class Schedule:
    schedule_id: str
    tenant_id: str
    queue_id: str
    kind: str  # announcement (to everyone waiting) or summary (to `address`)
    recurrence: str  # once or daily
    local_time: time | None  # daily: the wall-clock time in `time_zone`
    time_zone: str
    next_at: datetime | None
    channel: str | None
    address: str | None = field(repr=False)
    language: str
    text: str
    fired: int
    created_at: datetime


def _schedule(row: tuple[Any, ...]) -> Schedule:
    return Schedule(*row)


async def create_schedule(
    pool: Pool,
    tenant_id: str,
    *,
    queue_id: str,
    kind: str,
    recurrence: Recurrence,
    time_zone: str,
    now: datetime,
    at: datetime | None = None,
    local_time: time | None = None,
    text: str = "",
    channel: str | None = None,
    address: str | None = None,
    language: str = "en",
) -> Schedule:
    """Store a schedule with its first occurrence after `now`. ValueError for one that cannot
    fire (ScheduleInPast: a one-off whose moment has passed)."""
    if kind not in KINDS:
        raise ValueError(f"unknown schedule kind {kind!r}")
    next_at = next_occurrence(
        recurrence, local_time=local_time, at=at, time_zone=time_zone, after=now
    )
    if next_at is None:
        raise ScheduleInPast(f"{at.isoformat() if at else 'its moment'} has already passed")
    row = await fetch_one(
        pool,
        f"""INSERT INTO schedules (schedule_id, tenant_id, queue_id, kind, recurrence,
                local_time, time_zone, next_at, channel, address, language, text)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}""",
        (str(uuid.uuid4()), tenant_id, queue_id, kind, recurrence, local_time, time_zone,
         next_at, channel, address, language, text),
    )  # fmt: skip
    assert row is not None  # an insert returns its row
    return _schedule(row)


async def list_schedules(
    pool: Pool, tenant_id: str, *, queue_id: str | None = None
) -> list[Schedule]:
    rows = await fetch_all(
        pool,
        f"""SELECT {_COLUMNS} FROM schedules
            WHERE tenant_id = %s AND (%s::uuid IS NULL OR queue_id = %s::uuid)
            ORDER BY created_at, schedule_id""",
        (tenant_id, queue_id, queue_id),
    )
    return [_schedule(row) for row in rows]


async def delete_schedule(pool: Pool, tenant_id: str, schedule_id: str) -> bool:
    count = await changed(
        pool,
        "DELETE FROM schedules WHERE tenant_id = %s AND schedule_id = %s",
        (tenant_id, schedule_id),
    )
    return count > 0


async def due_schedules(pool: Pool, now: datetime, limit: int = 100) -> list[Schedule]:
    """Schedules whose next occurrence is at or before `now`, the most overdue first."""
    rows = await fetch_all(
        pool,
        f"""SELECT {_COLUMNS} FROM schedules
            WHERE next_at IS NOT NULL AND next_at <= %s ORDER BY next_at LIMIT %s""",
        (now, limit),
    )
    return [_schedule(row) for row in rows]


async def advance_schedule(
    pool: Pool, schedule_id: str, fired_at: datetime, next_at: datetime | None
) -> bool:
    """Move the schedule from the occurrence `fired_at` on to `next_at` (None: no more). True
    for the one caller that moved it: that caller, and only it, sends the occurrence."""
    count = await changed(
        pool,
        """UPDATE schedules SET next_at = %s, fired = fired + 1
           WHERE schedule_id = %s AND next_at = %s""",
        (next_at, schedule_id, fired_at),
    )
    return count == 1
