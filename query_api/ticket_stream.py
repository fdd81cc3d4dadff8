"""A ticket's live stream: every change of its status and position, folded from its queue's
batch messages (projections/follower.py), following it across transfers, each pushed as one
Server-Sent Event (written by live_stream.py's EventStream)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from projections.fanout import KEEPALIVE as KEEPALIVE_MARK
from projections.fanout import RESYNC, Lease
from projections.follower import TicketFollower
from projections.live_follower import SENT
from projections.queries import ReadModels, ReadModelUnavailable, Subscription, TicketRead
from projections.replay import replayed
from query_api.live_stream import KEEPALIVE, KEEPALIVE_S, Push
from query_api.views import ticket_out

# After these the ticket's story is over: the stream sends the final view and ends.
FINAL_STATUSES = frozenset({"served", "cancelled"})


def _sse(kind: str, version: int, data: dict[str, Any]) -> bytes:
    return f"id: {version}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode()


async def follow_ticket(
    models: ReadModels,
    tenant: str,
    ticket_id: str,
    last_id: int | None,
    lease: Lease | None,
    push: Push,
    known: TicketRead | None = None,
) -> None:
    """Every change of one ticket's status and position, following it across transfers, each
    pushed as one event (a keepalive comment after KEEPALIVE_S of quiet). Raises
    ReadModelUnavailable when the stream must end: the client reconnects with Last-Event-ID.

    `known`: the ticket as the request read it a moment before; the stream starts from it. When
    Redis is too busy for the read after subscribing (hundreds of people opening the page at
    once, its pool taken), the read before stands in, instead of ending the stream (which would
    send every client back at once, into the same crowd), and the ticket is read again at the
    next keepalive: a change that fell between the two reads is then shown.

    Positions come from folding each batch's changes (TicketFollower), so when several tickets
    ahead are called in one batch the follower still sees every step, not only the last.
    Redis is re-read only to start, after a gap, and when the ticket itself changed.
    """
    sent: tuple[str, int] | None = None  # (queue, version) of the last view sent
    if last_id is not None:
        sent = ("", last_id)  # the client has seen up to here (of whichever queue)
    fresh = known if known is not None else await models.ticket(tenant, ticket_id)
    while fresh is not None:
        target = _holder(fresh)
        async with models.subscription(tenant, target, lease) as sub:
            sub.keepalive(KEEPALIVE_S)  # no timer per wait: the hub's sweep says when
            # Read again after subscribing, so that no change falls between read and listen
            # (Redis too busy: the read before stands in until the next keepalive).
            unsure = False
            try:
                fresh = await models.ticket(tenant, ticket_id)
            except ReadModelUnavailable:
                unsure = True
            while fresh is not None and _holder(fresh) == target:
                follower = None  # None: a transfer's destination has not caught up yet
                if fresh.queue_id == target:
                    view = ticket_out(fresh, models.now())
                    if _newer(sent, fresh):
                        for missed in await _catch_up(models, tenant, sent, fresh, view):
                            await push(_sse("ticket", missed["version"], missed))
                        sent = (fresh.queue_id, fresh.version)
                    if fresh.view.get("status") in FINAL_STATUSES:
                        return
                    follower = TicketFollower(ticket_id, view, fresh.eta)
                last = await _fold_messages(
                    models, tenant, ticket_id, sub, follower, push, reread_at_keepalive=unsure
                )
                unsure = False
                if last is not None:
                    sent = (target, last["version"])
                    if last["status"] in FINAL_STATUSES:
                        return
                fresh = await models.ticket(tenant, ticket_id)


async def _fold_messages(
    models: ReadModels,
    tenant: str,
    ticket_id: str,
    sub: Subscription,
    follower: TicketFollower | None,
    push: Push,
    reread_at_keepalive: bool = False,
) -> dict[str, Any] | None:
    """Push the views folded from the channel's messages (and keepalives) until a re-read is
    due (at the first keepalive too, given `reread_at_keepalive`) or the ticket's story is
    over; returns the last view pushed (None: none).

    While it waits, the common batch (the line moved around the ticket, or its range did) is
    folded and pushed from the hub's task (Follower.direct, `_Direct`) without waking it."""
    direct = None if follower is None else _Direct(follower, push, models.now)
    sub.direct = None if direct is None else direct.show
    try:
        while True:
            message = await sub.message()
            if message is KEEPALIVE_MARK:
                await push(KEEPALIVE)
                if not reread_at_keepalive:
                    continue
                return None if direct is None else direct.last
            if direct is None or message is RESYNC:
                return None if direct is None else direct.last  # the caller re-reads the ticket
            follower = direct.follower
            fold = follower.fold(message)
            fresh = None
            if fold.touched and not fold.reread:
                # Its view after the batch comes with the batch (projections/writer.py); read
                # back only when it does not (a ticket no longer held, an older worker's message).
                own = (message.get("tickets") or {}).get(ticket_id)
                if isinstance(own, dict):
                    fresh = {k: v for k, v in own.items() if k != "line"}
                else:
                    read = await models.ticket(tenant, ticket_id)
                    fresh = ticket_out(read, models.now()) if read is not None else None
            for view in follower.views(fold, fresh, models.now()):
                await push(_sse("ticket", view["version"], view))
                direct.last = view
                if view["status"] in FINAL_STATUSES:
                    return view
            if fold.reread or follower.status == "transferred":
                return direct.last
    finally:
        sub.direct = None  # the caller re-reads with another fold: messages wait for it


class _Direct:
    """A ticket stream's batch folded and pushed from the hub's task while the stream waits:
    only the batch that moves the line around the ticket (or its range) by one step; any other
    (the ticket itself changed, a gap, several steps) is left to the stream's task, the fold
    as it was (`None`: Follower.offer buffers it)."""

    __slots__ = ("_now", "_push", "follower", "last")

    def __init__(self, follower: TicketFollower, push: Push, now: Callable[[], datetime]) -> None:
        self.follower, self._push, self._now = follower, push, now
        self.last: dict[str, Any] | None = None  # the last view pushed

    def show(self, message: dict[str, Any]) -> Awaitable[None] | None:
        follower = self.follower
        mark = follower.mark()
        fold = follower.fold(message)
        if fold.touched or fold.reread or len(fold.steps) > 1:
            follower.back_to(mark)
            return None
        if not fold.steps:
            return SENT  # nothing it shows changed
        (view,) = follower.views(fold, None, self._now())
        self.last = view
        return self._push(_sse("ticket", view["version"], view))


async def _catch_up(
    models: ReadModels,
    tenant: str,
    sent: tuple[str, int] | None,
    fresh: TicketRead,
    view: dict[str, Any],
) -> list[dict[str, Any]]:
    """The views a follower missed (it reconnected, or fell behind the channel), every position
    in order, ending with `view`; just `view` where the replay cannot be exact."""
    if sent is None or sent[0] not in ("", fresh.queue_id):
        return [view]
    since = sent[1]
    changes = await models.recent_changes(tenant, fresh.queue_id, since, fresh.version)
    if not changes:
        return [view]
    return replayed(fresh.view["ticket_id"], view, fresh.eta, changes, since, models.now()) or [
        view
    ]


def _newer(sent: tuple[str, int] | None, ticket: TicketRead) -> bool:
    if sent is None:
        return True
    queue_id, version = sent
    return version < ticket.version if queue_id in ("", ticket.queue_id) else True


def _holder(ticket: TicketRead) -> str:
    """The queue whose channel announces this ticket's next change."""
    moved_to = ticket.view.get("transferred_to")
    if ticket.view.get("status") == "transferred" and isinstance(moved_to, str):
        return moved_to
    return ticket.queue_id
