"""A queue's notification defaults: what a person who subscribes without choosing is told."""

from __future__ import annotations

from dataclasses import dataclass

from notifications.store.db import Pool, fetch_one

DEFAULT_AHEAD = 3

_COLUMNS = "queue_id::text, ahead, eta_minutes, feedback_url"


@dataclass(frozen=True, slots=True)
class NotifyDefaults:
    queue_id: str
    ahead: int = DEFAULT_AHEAD  # people ahead
    eta_minutes: int | None = None  # minutes before the estimated call; None: not told
    feedback_url: str | None = None  # the link sent after service


async def get_notify_defaults(pool: Pool, tenant_id: str, queue_id: str) -> NotifyDefaults:
    """The queue's defaults (the product's, until the tenant sets some)."""
    row = await fetch_one(
        pool,
        f"SELECT {_COLUMNS} FROM queue_notify_defaults WHERE queue_id = %s AND tenant_id = %s",
        (queue_id, tenant_id),
    )
    return NotifyDefaults(queue_id) if row is None else NotifyDefaults(*row)


async def put_notify_defaults(
    pool: Pool,
    tenant_id: str,
    queue_id: str,
    *,
    ahead: int,
    eta_minutes: int | None,
    feedback_url: str | None,
) -> NotifyDefaults | None:
    """Set the queue's defaults; None when the queue's row belongs to another tenant (the caller
    checks first that the queue is the tenant's: queue ids are never reused)."""
    row = await fetch_one(
        pool,
        f"""INSERT INTO queue_notify_defaults AS d
                (queue_id, tenant_id, ahead, eta_minutes, feedback_url)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (queue_id) DO UPDATE SET ahead = EXCLUDED.ahead,
                eta_minutes = EXCLUDED.eta_minutes, feedback_url = EXCLUDED.feedback_url,
                updated_at = now()
            WHERE d.tenant_id = EXCLUDED.tenant_id
            RETURNING {_COLUMNS}""",
        (queue_id, tenant_id, ahead, eta_minutes, feedback_url),
    )
    return None if row is None else NotifyDefaults(*row)
