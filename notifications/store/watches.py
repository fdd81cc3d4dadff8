"""The notifier's side of subscriptions: who follows which tickets, and each one's `Watch`;
and, for the delivery stage, where each subscription's messages go and whether they still hold."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from core.ids import is_uuid
from notifications.rules import Moment, Rule, Watch
from notifications.store.db import connection

_COLUMNS = (
    "subscription_id::text, tenant_id::text, queue_id::text, ticket_id::text, channel, address,"
    " language, rules, watch"
)


@dataclass(slots=True)
class Follower:
    subscription_id: str
    tenant_id: str
    queue_id: str
    ticket_id: str
    channel: str
    address: str
    language: str
    watch: Watch


def watch_from(
    subscription_id: str,
    rules: Sequence[dict[str, Any]],
    state: dict[str, Any],
    queue_id: str | None = None,
) -> Watch:
    """A watch as stored; `queue_id`, the subscription's, for a watch stored before it kept its
    own (the notifier kept the subscription's up to date with the ticket's moves)."""
    return Watch(
        subscription_id,
        tuple(Rule(r["kind"], r.get("threshold")) for r in rules),
        fired=dict(state.get("fired", {})),
        within=dict(state.get("within", {})),
        left=bool(state.get("left", False)),
        status=state.get("status"),
        versions=dict(state.get("versions", {})),
        queue_id=state.get("queue_id") or queue_id,
        number=state.get("number"),
    )


def started_watch(
    subscription_id: str,
    rules: list[dict[str, Any]],
    told: Moment | None,
    fired: dict[str, int],
    number: str | None = None,
) -> dict[str, Any]:
    """A watch as a subscription starts it: inside the threshold rules a confirmation `told`
    the ticket is within, its `number`, nothing else known; `fired`, the crossings of an
    earlier start."""
    if told is None and not fired:  # the notifier starts it with the first moment
        return {"number": number} if number else {}
    started = watch_from(subscription_id, rules, {"fired": fired, "number": number})
    if told is not None:
        started.told(told)
    return watch_state(started)


def watch_state(watch: Watch) -> dict[str, Any]:
    return {
        "fired": watch.fired,
        "within": watch.within,
        "left": watch.left,
        "status": watch.status,
        "versions": watch.versions,
        "queue_id": watch.queue_id,
        "number": watch.number,
    }


def _follower(row: Sequence[Any]) -> Follower:
    sid, tenant, queue, ticket, channel, address, language, rules, state = row
    return Follower(
        sid, tenant, queue, ticket, channel, address, language, watch_from(sid, rules, state, queue)
    )


async def following(pool: AsyncConnectionPool[Any], ticket_ids: Sequence[str]) -> list[Follower]:
    """The live subscriptions on these tickets."""
    if not ticket_ids:
        return []
    query = f"""SELECT {_COLUMNS} FROM subscriptions
                WHERE ticket_id = ANY(%s::uuid[]) AND cancelled_at IS NULL"""
    async with connection(pool) as conn:
        rows = await (await conn.execute(query, (list(ticket_ids),))).fetchall()
    return [_follower(row) for row in rows]


async def in_queue(pool: AsyncConnectionPool[Any], queue_id: str) -> list[Follower]:
    """The live subscriptions of tickets still in a queue (as far as their watches know)."""
    query = f"""SELECT {_COLUMNS} FROM subscriptions
                WHERE queue_id = %s::uuid AND cancelled_at IS NULL
                  AND NOT COALESCE((watch ->> 'left')::boolean, false)"""
    async with connection(pool) as conn:
        rows = await (await conn.execute(query, (queue_id,))).fetchall()
    return [_follower(row) for row in rows]


async def save(pool: AsyncConnectionPool[Any], followers: Sequence[Follower]) -> None:
    """Every watch as it is now; the queue a transfer moved the ticket to, too."""
    if not followers:
        return
    async with connection(pool) as conn, conn.cursor() as cur:
        await cur.executemany(
            "UPDATE subscriptions SET watch = %s, queue_id = %s::uuid WHERE subscription_id = %s",
            [(Jsonb(watch_state(f.watch)), f.queue_id, f.subscription_id) for f in followers],
        )


# The topics of messages that end what earlier messages to the same subscription say: "3 people
# ahead" is not true once "it's your turn" was made, nor "it's your turn" once "thank you" (or
# "your place is cancelled") was.
CLOSING_TOPICS = ("called", "recalled", "served", "cancelled")


@dataclass(frozen=True, slots=True)
class Standing:
    """A subscription as its messages are checked when they are sent (notifications/obsolete.py):
    where they go, whether it was cancelled, its ticket as the notifier last saw it, and when the
    newest message of each of CLOSING_TOPICS to it was made (a closing message that reached a
    channel worker is there even before the notifier has written the watch that made it)."""

    address: str = field(repr=False)  # a person's contact: kept out of logs
    cancelled: bool
    queue_id: str  # the ticket's queue as the watch knows it (a transfer moves it)
    watch: Watch
    closing: dict[str, datetime] = field(default_factory=dict)  # topic -> newest created_at


_STANDINGS = """
SELECT s.subscription_id::text, s.address, s.cancelled_at IS NOT NULL, s.queue_id::text, s.rules,
       s.watch,
       (SELECT jsonb_object_agg(c.topic, c.made) FROM (
            SELECT d.topic, max((d.message ->> 'created_at')::timestamptz) AS made
            FROM deliveries d  -- by the index (tenant_id, destination, created_at)
            WHERE d.tenant_id = s.tenant_id AND d.destination = s.subscription_id::text
              AND d.topic = ANY(%(closing)s)
            GROUP BY d.topic) c)
FROM subscriptions s
WHERE s.subscription_id = ANY(%(ids)s::uuid[])
"""


async def standings(
    pool: AsyncConnectionPool[Any], subscription_ids: Iterable[str]
) -> dict[str, Standing]:
    """The standing of each of these subscriptions, read when a batch of their messages is sent
    (messages carry no address, and whether they still hold is known only then), in one
    statement; a subscription removed (the person's data erased) is not there."""
    wanted = sorted({i for i in subscription_ids if is_uuid(i)})
    if not wanted:
        return {}
    async with connection(pool) as conn:
        cursor = await conn.execute(_STANDINGS, {"ids": wanted, "closing": list(CLOSING_TOPICS)})
        rows = await cursor.fetchall()
    return {str(row[0]): _standing(row) for row in rows}


def _standing(row: Sequence[Any]) -> Standing:
    sid, address, cancelled, queue, rules, state, closing = row
    return Standing(
        address=str(address),
        cancelled=bool(cancelled),
        queue_id=str(queue),
        watch=watch_from(sid, rules, state, str(queue)),
        closing={t: datetime.fromisoformat(at) for t, at in (closing or {}).items()},
    )
