"""What a ticket's follower missed while it was away, replayed from the queue's recent batches.

An SSE client reconnects with `Last-Event-ID`: the queue version of the last view it saw. Each
batch the projector writes appends its changes to the queue's bounded list of recent batches
(layout `recent`), in the same atomic write as the views, so every version up to the one a read
returns is there (unless trimmed away). From the ticket's view now and the changes since the
client's version, the ticket's state then is found by undoing the changes one by one from the
last (`rewind`), then folded forward again (`TicketFollower`), which gives every position it
passed through, in order. Where that cannot be exact (the batches were trimmed, a
reconfiguration re-ranked the line, the ticket did not exist yet), None: the caller sends the
current view instead.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from projections.follower import TicketFollower
from projections.layout import Keys

Spot = tuple[str, int | None, str | None]  # status, position, counter


async def recent_changes(
    client: aioredis.Redis, keys: Keys, tenant: str, queue: str, after: int, upto: int
) -> list[dict[str, Any]] | None:
    """The queue's changes of versions after..upto, every one, in order; None if any is gone."""
    raw = await client.lrange(keys.recent(tenant, queue), 0, -1)
    changes = [
        change
        for entry in raw
        for change in json.loads(entry)["changes"]
        if after < change["version"] <= upto
    ]
    if [change["version"] for change in changes] != list(range(after + 1, upto + 1)):
        return None
    return changes


def rewind(ticket_id: str, now: Spot, changes: list[dict[str, Any]]) -> Spot | None:
    """The ticket's spot before `changes` (the queue's, in order), from its spot after them."""
    status, position, counter = now
    for change in reversed(changes):
        if change.get("type") == "QueueReconfigured":
            return None  # class ranks changed: the line may have reordered
        left, joined = change.get("left"), change.get("joined")
        if change.get("ticket_id") == ticket_id:
            was = change.get("was")
            if was is None:
                return None  # the ticket joined here: it had no spot before
            if left is not None:
                position = left
            elif was != "waiting":
                position = None
            status, counter = was, change.get("was_counter")
        elif change.get("ticket_id") is not None and position is not None:
            # The inverse of TicketFollower.fold's move: another ticket left at `left` (those
            # behind moved up) then joined at `joined` (those at or behind moved down).
            if joined is not None and joined < position:
                position -= 1
            if left is not None and left <= position:
                position += 1
    return status, position, counter


def replayed(
    ticket_id: str,
    current: dict[str, Any],
    eta: dict[str, Any] | None,
    changes: list[dict[str, Any]],
    since: int,
    now: datetime,
) -> list[dict[str, Any]] | None:
    """The views a follower that saw version `since` missed, ending with `current` (the view
    as the API shows it now); None where the replay cannot be exact."""
    spot = rewind(ticket_id, (current["status"], current["position"], current["counter"]), changes)
    if spot is None:
        return None
    status, position, counter = spot
    then = {
        **current,
        "status": status,
        "position": position,
        "counter": counter,
        "version": since,
        "people_ahead": None if position is None else position - 1,
    }
    follower = TicketFollower(ticket_id, then, eta)
    fold = follower.fold({"version": current["version"], "changes": changes})
    if fold.reread or (follower.status, follower.position, follower.counter) != (
        current["status"],
        current["position"],
        current["counter"],
    ):
        return None  # the fold does not arrive where the read model is: do not guess
    views = follower.views(fold, current, now)
    if views and views[-1]["version"] == current["version"]:
        views.pop()  # the read model's own view is the last word on the latest version
    return [*views, current]
