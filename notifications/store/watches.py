"""The notifier's side of subscriptions: who follows which tickets, and each one's `Watch`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from notifications.rules import Rule, Watch
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
    subscription_id: str, rules: Sequence[dict[str, Any]], state: dict[str, Any]
) -> Watch:
    return Watch(
        subscription_id,
        tuple(Rule(r["kind"], r.get("threshold")) for r in rules),
        fired=dict(state.get("fired", {})),
        within=dict(state.get("within", {})),
        left=bool(state.get("left", False)),
        status=state.get("status"),
        versions=dict(state.get("versions", {})),
    )


def watch_state(watch: Watch) -> dict[str, Any]:
    return {
        "fired": watch.fired,
        "within": watch.within,
        "left": watch.left,
        "status": watch.status,
        "versions": watch.versions,
    }


def _follower(row: Sequence[Any]) -> Follower:
    sid, tenant, queue, ticket, channel, address, language, rules, state = row
    return Follower(
        sid, tenant, queue, ticket, channel, address, language, watch_from(sid, rules, state)
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
