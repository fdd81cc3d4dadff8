"""Delivery state: one row per message that reached a channel worker, one per attempt.

The rows decide what a worker may send. A message's record can arrive more than once (Kafka
redelivers after a crash or a rebalance, a notifier that restarted makes it again, a retry record
is read twice), so each arrival claims its attempt first, in one statement per batch:

* a message already delivered (or found obsolete: notifications/obsolete.py) is a duplicate:
  counted, not sent;
* an attempt already made and failed (its retry is on its way) is a duplicate too;
* an attempt that was claimed and never recorded (the worker died mid-batch) is made again, with
  the same id the receiver dedupes by;
* anything else is a new attempt.

Such an attempt made again counts as a resend when it is settled, and only if it went out again
and was answered (delivered, or a status came back): not when it turned out obsolete, was not
called (a circuit open, a subscription erased) or the template failed. The worker that died may
have claimed it without sending it, so a resend is one that may have reached its receiver twice:
no more were sent twice than `resends` says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from notifications.messages import Message
from notifications.store.db import connection

_CLAIM = """
INSERT INTO deliveries AS d
    (message_id, tenant_id, channel, destination, topic, message, status, attempts)
SELECT m.id, m.tenant::uuid, m.channel, m.destination, m.topic, m.message, 'sending', m.attempt
FROM unnest(%(ids)s::text[], %(tenants)s::text[], %(channels)s::text[], %(destinations)s::text[],
            %(topics)s::text[], %(messages)s::jsonb[], %(attempts)s::int[])
     AS m(id, tenant, channel, destination, topic, message, attempt)
ON CONFLICT (message_id) DO UPDATE SET
    status = 'sending',
    attempts = EXCLUDED.attempts,
    updated_at = now()
WHERE d.status NOT IN ('delivered', 'dead', 'obsolete')
  AND (d.attempts < EXCLUDED.attempts OR (d.attempts = EXCLUDED.attempts AND d.status = 'sending'))
RETURNING message_id
"""

_DUPLICATES = "UPDATE deliveries SET duplicates = duplicates + 1 WHERE message_id = ANY(%s)"

# The rows a claim may take over, locked (in one order for every writer) and read as they stand.
_HELD = """
SELECT message_id, status, attempts FROM deliveries WHERE message_id = ANY(%s)
ORDER BY message_id FOR UPDATE
"""

# A batch's attempts recorded and their messages' new status, in one statement (one round trip,
# atomic): the outcomes come as arrays, one element per message (a batch attempts a message once).
_SETTLE = """
WITH a AS (
    SELECT * FROM unnest(%(ids)s::text[], %(attempts)s::int[], %(ats)s::timestamptz[],
                         %(outcomes)s::text[], %(codes)s::int[], %(seconds)s::float8[],
                         %(excerpts)s::text[], %(errors)s::text[], %(statuses)s::text[],
                         %(resent)s::bool[])
        AS a(message_id, attempt, at, outcome, code, seconds, excerpt, error, status, resent)
), attempted AS (
    INSERT INTO delivery_attempts
        (message_id, replay, attempt, at, outcome, status, seconds, excerpt, error)
    SELECT a.message_id, d.replays, a.attempt, a.at, a.outcome, a.code, a.seconds, a.excerpt,
           a.error
    FROM a JOIN deliveries d ON d.message_id = a.message_id
    ON CONFLICT (message_id, replay, attempt) DO UPDATE SET
        at = EXCLUDED.at, outcome = EXCLUDED.outcome, status = EXCLUDED.status,
        seconds = EXCLUDED.seconds, excerpt = EXCLUDED.excerpt, error = EXCLUDED.error
)
UPDATE deliveries d SET status = a.status, last_error = a.error, updated_at = now(),
    resends = d.resends + a.resent::int,
    delivered_at = CASE WHEN a.status = 'delivered' THEN now() ELSE d.delivered_at END
FROM a WHERE d.message_id = a.message_id
    -- An attempt settled late (its retry, published first, was claimed and maybe delivered
    -- meanwhile: a short retry delay, a slow batch) records its row but moves the message no
    -- more: the newest attempt claimed says where it stands. Re-checked on the row as it is
    -- once a concurrent settle's lock is released.
    AND d.attempts <= a.attempt
"""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to, to record: the message's new status and the attempt's row."""

    message_id: str
    attempt: int
    at: datetime
    status: str  # the message's: delivered, retrying, dead, obsolete
    # The attempt's: delivered, failed, refused, gone, or obsolete (not sent: it no longer held).
    outcome: str
    code: int | None = None
    seconds: float | None = None
    excerpt: str = ""
    error: str | None = None
    resent: bool = False  # the same attempt went out again after a worker stopped mid-batch


class Claimed(set[str]):
    """The ids a worker is to attempt now; `again`, those among them whose same attempt was
    claimed before and never recorded (a worker stopped mid-batch): made now, they may reach
    their receiver a second time."""

    def __init__(self, ids: set[str], again: set[str]) -> None:
        super().__init__(ids)
        self.again = frozenset(again)


def destination(message: Message) -> str:
    """Whose log the message belongs to: the endpoint, the subscription, or where it goes."""
    if message.channel == "webhook":
        return message.to
    return message.subscription_id or message.to


async def claim(pool: AsyncConnectionPool[Any], arrivals: Sequence[tuple[Message, int]]) -> Claimed:
    """The ids among `arrivals` (message, attempt) that this worker is to attempt now; the others
    are counted as duplicates."""
    if not arrivals:
        return Claimed(set(), set())
    columns: dict[str, list[Any]] = {
        "ids": [],
        "tenants": [],
        "channels": [],
        "destinations": [],
        "topics": [],
        "messages": [],
        "attempts": [],
    }
    seen: set[str] = set()
    for message, attempt in arrivals:
        if message.id in seen:
            continue  # the same message twice in one batch: the second is a duplicate
        seen.add(message.id)
        columns["ids"].append(message.id)
        columns["tenants"].append(message.tenant_id)
        columns["channels"].append(message.channel)
        columns["destinations"].append(destination(message))
        columns["topics"].append(message.topic)
        columns["messages"].append(Jsonb(message.record()))
        columns["attempts"].append(attempt)
    async with connection(pool) as conn:
        held = await (await conn.execute(_HELD, (columns["ids"],))).fetchall()
        rows = await (await conn.execute(_CLAIM, columns)).fetchall()
        claimed = {row[0] for row in rows}
        duplicates = [m.id for m, _ in arrivals if m.id not in claimed]
        if duplicates:
            await conn.execute(_DUPLICATES, (duplicates,))
    attempts = dict(zip(columns["ids"], columns["attempts"], strict=True))
    again = {
        message_id
        for message_id, status, attempt in held
        if message_id in claimed and status == "sending" and attempt == attempts[message_id]
    }
    return Claimed(claimed, again)


async def settle(pool: AsyncConnectionPool[Any], outcomes: Sequence[Outcome]) -> None:
    """Record a batch of attempts and their messages' new status, in one statement."""
    if not outcomes:
        return
    ordered = sorted(outcomes, key=lambda o: o.message_id)  # one order for every writer's locks
    columns = {
        "ids": [o.message_id for o in ordered],
        "attempts": [o.attempt for o in ordered],
        "ats": [o.at for o in ordered],
        "outcomes": [o.outcome for o in ordered],
        "codes": [o.code for o in ordered],
        "seconds": [o.seconds for o in ordered],
        "excerpts": [o.excerpt for o in ordered],
        "errors": [o.error for o in ordered],
        "statuses": [o.status for o in ordered],
        "resent": [o.resent for o in ordered],
    }
    async with connection(pool) as conn:
        await conn.execute(_SETTLE, columns)


@dataclass(frozen=True, slots=True)
class Tally:
    delivered: int
    retrying: int
    dead: int
    obsolete: int  # not sent: the person unsubscribed, the ticket was called or left
    sending: int
    duplicates: int
    resends: int
    attempts: int


async def tally(pool: AsyncConnectionPool[Any], tenant_id: str | None = None) -> Tally:
    """Counts over every message (of one tenant): what `vq notifications status` reports."""
    where, args = ("WHERE tenant_id = %s", (tenant_id,)) if tenant_id else ("", ())
    query = f"""
        SELECT count(*) FILTER (WHERE status = 'delivered'), count(*) FILTER (WHERE status =
               'retrying'), count(*) FILTER (WHERE status = 'dead'), count(*) FILTER (WHERE
               status = 'obsolete'), count(*) FILTER (WHERE status = 'sending'),
               COALESCE(sum(duplicates), 0), COALESCE(sum(resends), 0), COALESCE(sum(attempts), 0)
        FROM deliveries {where}"""
    async with connection(pool) as conn:
        row = await (await conn.execute(query, args)).fetchone()
    assert row is not None
    return Tally(*(int(value) for value in row))


async def to_replay(
    pool: AsyncConnectionPool[Any],
    *,
    tenant_id: str | None,
    message_id: str | None = None,
    destination: str | None = None,
    since: datetime | None = None,
    dead_only: bool = False,
    limit: int = 10_000,
) -> list[Message]:
    """The messages a replay sends again, reset so that their next attempt is the first again."""
    clauses, args = ["TRUE"], []
    for clause, value in (
        ("tenant_id = %s::uuid", tenant_id),
        ("message_id = %s", message_id),
        ("destination = %s", destination),
        ("created_at >= %s", since),
    ):
        if value is not None:
            clauses.append(clause)
            args.append(value)
    if dead_only:
        clauses.append("status = 'dead'")
    query = f"""
        UPDATE deliveries SET status = 'replaying', attempts = 0, replays = replays + 1,
                              updated_at = now()
        WHERE message_id IN (SELECT message_id FROM deliveries WHERE {" AND ".join(clauses)}
                             ORDER BY created_at LIMIT {int(limit)})
        RETURNING message"""
    async with connection(pool) as conn:
        rows = await (await conn.execute(query, args)).fetchall()
    return sorted(
        (Message.from_record(row[0]) for row in rows),
        key=lambda m: m.created_at,
    )


async def forget_gone(pool: AsyncConnectionPool[Any], message_ids: Sequence[str]) -> None:
    """The push subscriptions whose service said they are gone (404/410) are cancelled."""
    async with connection(pool) as conn:
        await conn.execute(
            """UPDATE subscriptions SET cancelled_at = now()
               WHERE cancelled_at IS NULL AND channel = 'push' AND subscription_id::text IN (
                   SELECT destination FROM deliveries WHERE message_id = ANY(%s))""",
            (list(message_ids),),
        )


async def purge(pool: AsyncConnectionPool[Any], older_than: datetime, limit: int = 10_000) -> int:
    """Forget settled messages (and their attempts) created before `older_than`; how many."""
    async with connection(pool) as conn:
        cursor = await conn.execute(
            """DELETE FROM deliveries WHERE message_id IN (
                   SELECT message_id FROM deliveries
                   WHERE created_at < %s AND status IN ('delivered', 'dead', 'obsolete')
                   LIMIT %s)""",
            (older_than, limit),
        )
    return int(cursor.rowcount)
