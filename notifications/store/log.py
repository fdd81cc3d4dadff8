"""The delivery log as a tenant reads it: the newest messages to one destination (a webhook
endpoint, a subscription), each with every attempt made (tables written by `deliveries.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from notifications.store.db import Pool, fetch_all

STATUSES = ("sending", "delivered", "retrying", "dead", "replaying")


@dataclass(frozen=True, slots=True)
class LoggedAttempt:
    replay: int  # 0: the first round; n: after the n-th replay
    attempt: int
    at: datetime
    outcome: str  # delivered, failed, refused, gone, obsolete (not sent: it no longer held)
    status: int | None  # HTTP status (or SMTP reply code)
    seconds: float | None
    excerpt: str  # the first bytes of the answer
    error: str | None


@dataclass(frozen=True, slots=True)
class LoggedMessage:
    message_id: str
    topic: str
    status: str
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    tries: tuple[LoggedAttempt, ...]


async def delivery_log(
    pool: Pool,
    tenant_id: str,
    destination: str,
    *,
    status: str | None = None,
    limit: int = 50,
) -> list[LoggedMessage]:
    """The newest `limit` messages to `destination` (of `status`, when given), newest first."""
    messages = await fetch_all(
        pool,
        """SELECT message_id, topic, status, attempts, created_at, delivered_at, last_error
           FROM deliveries
           WHERE tenant_id = %s AND destination = %s AND (%s::text IS NULL OR status = %s)
           ORDER BY created_at DESC, message_id LIMIT %s""",
        (tenant_id, destination, status, status, limit),
    )
    ids = [row[0] for row in messages]
    attempts: dict[str, list[LoggedAttempt]] = {message_id: [] for message_id in ids}
    if ids:
        for row in await fetch_all(
            pool,
            """SELECT message_id, replay, attempt, at, outcome, status, seconds, excerpt, error
               FROM delivery_attempts WHERE message_id = ANY(%s)
               ORDER BY message_id, replay, attempt""",
            (ids,),
        ):
            attempts[row[0]].append(LoggedAttempt(*row[1:]))
    return [
        LoggedMessage(
            message_id=row[0],
            topic=row[1],
            status=row[2],
            attempts=row[3],
            created_at=row[4],
            delivered_at=row[5],
            last_error=row[6],
            tries=tuple(attempts[row[0]]),
        )
        for row in messages
    ]
