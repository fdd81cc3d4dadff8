"""Staff and manager alerts: which condition, on which queue (or all), told to whom."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from notifications.store.db import Pool, changed, fetch_all, fetch_one

CONDITIONS = (
    "joined_empty_queue",
    "p90_over_target",
    "counter_idle",
    "accuracy_degraded",
    "delivery_failures",
    "unusual_arrivals",
    "bottleneck",
)
ALERT_CHANNELS = ("email", "chat")

_COLUMNS = (
    "alert_id::text, tenant_id::text, queue_id::text, condition, threshold, channel, address, "
    "language, created_at"
)


@dataclass(frozen=True, slots=True)
class AlertRule:
    alert_id: str
    tenant_id: str
    queue_id: str | None  # None: every queue of the tenant
    condition: str
    threshold: float | None
    channel: str  # email, or chat (an apprise URL)
    address: str = field(repr=False)  # an apprise URL may hold a token: never in a log
    language: str
    created_at: datetime


def _rule(row: tuple[Any, ...]) -> AlertRule:
    return AlertRule(*row)


async def create_alert_rule(
    pool: Pool,
    tenant_id: str,
    *,
    condition: str,
    channel: str,
    address: str,
    queue_id: str | None = None,
    threshold: float | None = None,
    language: str = "en",
) -> AlertRule:
    if condition not in CONDITIONS:
        raise ValueError(f"unknown alert condition {condition!r}")
    if channel not in ALERT_CHANNELS:
        raise ValueError(f"alerts go by email or chat, not {channel!r}")
    row = await fetch_one(
        pool,
        f"""INSERT INTO alert_rules (alert_id, tenant_id, queue_id, condition, threshold,
                                     channel, address, language)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}""",
        (str(uuid.uuid4()), tenant_id, queue_id, condition, threshold, channel, address,
         language),
    )  # fmt: skip
    assert row is not None  # an insert returns its row
    return _rule(row)


async def list_alert_rules(pool: Pool, tenant_id: str) -> list[AlertRule]:
    rows = await fetch_all(
        pool,
        f"SELECT {_COLUMNS} FROM alert_rules WHERE tenant_id = %s ORDER BY created_at, alert_id",
        (tenant_id,),
    )
    return [_rule(row) for row in rows]


async def delete_alert_rule(pool: Pool, tenant_id: str, alert_id: str) -> bool:
    count = await changed(
        pool,
        "DELETE FROM alert_rules WHERE tenant_id = %s AND alert_id = %s",
        (tenant_id, alert_id),
    )
    return count > 0


async def alert_rules_for(
    pool: Pool, tenant_id: str, condition: str, queue_id: str | None
) -> list[AlertRule]:
    """The rules that want to hear of `condition` on `queue_id`: that queue's and the tenant's
    rules for all queues (only the latter when `queue_id` is None)."""
    rows = await fetch_all(
        pool,
        f"""SELECT {_COLUMNS} FROM alert_rules
            WHERE tenant_id = %s AND condition = %s
              AND (queue_id IS NULL OR queue_id = %s::uuid)
            ORDER BY created_at, alert_id""",
        (tenant_id, condition, queue_id),
    )
    return [_rule(row) for row in rows]


async def alert_rule_by_id(pool: Pool, alert_id: str) -> AlertRule | None:
    """The rule an alert message was made for (a delivery worker finds its address here)."""
    row = await fetch_one(
        pool, f"SELECT {_COLUMNS} FROM alert_rules WHERE alert_id = %s", (alert_id,)
    )
    return None if row is None else _rule(row)


async def alert_rules_of(pool: Pool, conditions: Sequence[str]) -> list[AlertRule]:
    """Every tenant's rules of these conditions (the periodic checks read them all)."""
    rows = await fetch_all(
        pool,
        f"""SELECT {_COLUMNS} FROM alert_rules WHERE condition = ANY(%s)
            ORDER BY tenant_id, created_at, alert_id""",
        (list(conditions),),
    )
    return [_rule(row) for row in rows]
