"""Following queues and tickets live: Server-Sent Events and a WebSocket, fed by Redis pub/sub
(so any API replica serves any subscriber) through the process's one subscription
(projections/fanout.py): a follower costs a buffer, not a Redis connection. The events are
written by live_stream.py's EventStream, straight to the server."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.websockets import WebSocketDisconnect

from http_api.auth import permission
from http_api.deps import (
    AccessToken,
    BearerKey,
    ReaderDep,
    ReadModelsDep,
    ServicesDep,
    reader_of,
)
from http_api.problems import PROBLEM_MEDIA_TYPE, ProblemError, problem_responses
from http_api.security import SERVER_SEND
from projections.fanout import KEEPALIVE as KEEPALIVE_MARK
from projections.fanout import RESYNC, HubClosed, Lease
from projections.follower import TicketFollower
from projections.leases import Expired, Revoked
from projections.live_follower import SENT
from projections.queries import (
    ReadModels,
    ReadModelUnavailable,
    StaleRead,
    Subscription,
    TicketRead,
)
from projections.replay import replayed
from query_api.deps import (
    DEFAULT_WAIT_S,
    LastEventId,
    MinVersion,
    QueueId,
    TicketId,
    TicketTenant,
    Wait,
)
from query_api.leases import LIVE_PROBLEMS, admitted, hub_of, lease_of, ticket_lease
from query_api.live_stream import (
    KEEPALIVE,
    KEEPALIVE_S,
    EventStream,
    Push,
    pump_queue,
    queue_pump,
    send_now,
)
from query_api.routes import READ_PROBLEMS, VERSIONED
from query_api.views import not_found, queue_text, read_queue, stale_read, ticket_out

log = logging.getLogger("vq.queries")
router = APIRouter(tags=["queries"])

# After these the ticket's story is over: the stream sends the final view and ends.
FINAL_STATUSES = frozenset({"served", "cancelled"})

_SSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {}},
        "headers": VERSIONED[200]["headers"],
        "description": "Server-Sent Events: `id` = stream version, `data` = the view",
    }
}


@router.get(
    "/v1/tickets/{ticket_id}/events",
    response_class=StreamingResponse,
    summary="Follow a ticket live (SSE): every position and status change, in order",
    responses={**_SSE, **problem_responses(*READ_PROBLEMS, *LIVE_PROBLEMS)},
    openapi_extra=permission("ticket-token", bearer="read"),
)
async def ticket_events(
    request: Request,
    ticket_id: TicketId,
    tenant: TicketTenant,
    svc: ServicesDep,
    models: ReadModelsDep,
    bearer: BearerKey,
    last_event_id: LastEventId = None,
    min_version: MinVersion = None,
    wait: Wait = DEFAULT_WAIT_S,
) -> Response:
    try:
        found = await models.ticket_at(tenant, str(ticket_id), min_version, wait)
    except StaleRead as behind:
        raise stale_read(min_version, behind.version) from None
    if found is None:
        raise not_found("ticket", ticket_id)
    hub = hub_of(request)
    lease = admitted(hub, await ticket_lease(request, svc, str(ticket_id), bearer))
    pump = partial(_follow_ticket, models, tenant, str(ticket_id), _event_id(last_event_id), lease)
    return EventStream(pump, found.version, partial(hub.release, lease))


@router.get(
    "/v1/queues/{queue_id}/events",
    response_class=StreamingResponse,
    summary="Follow a queue live (SSE): its view after every change",
    responses={**_SSE, **problem_responses(*READ_PROBLEMS, *LIVE_PROBLEMS)},
    openapi_extra=permission("read"),
)
async def queue_events(
    request: Request,
    queue_id: QueueId,
    who: ReaderDep,
    models: ReadModelsDep,
    last_event_id: LastEventId = None,
    min_version: MinVersion = None,
    wait: Wait = DEFAULT_WAIT_S,
) -> Response:
    found = await read_queue(models, who.tenant_id, queue_id, min_version, wait)
    hub = hub_of(request)
    lease = admitted(hub, lease_of(who))
    pump = queue_pump(models, who.tenant_id, str(queue_id), _event_id(last_event_id), lease)
    return EventStream(pump, found.version, partial(hub.release, lease))


@router.websocket("/v1/queues/{queue_id}/ws")
async def queue_socket(
    websocket: WebSocket,
    queue_id: QueueId,
    svc: ServicesDep,
    models: ReadModelsDep,
    bearer: BearerKey,
    access_token: AccessToken = None,
) -> None:
    """The queue's view as JSON text messages, first the current one, then after every change.
    Closed with 4401 when its credential is revoked or expires (reconnecting with it is a 401)."""
    hub = hub_of(websocket)
    try:
        who = await reader_of(websocket, svc, bearer, access_token, "read")
        await read_queue(models, who.tenant_id, queue_id, None, 0)
        lease = admitted(hub, lease_of(who))
    except ReadModelUnavailable:
        await _refuse(
            websocket,
            ProblemError(
                "service-unavailable",
                ReadModelUnavailable.public_detail,
                headers={"Retry-After": str(ReadModelUnavailable.retry_after_s)},
            ),
        )
        return
    except ProblemError as problem:
        await _refuse(websocket, problem)
        return

    server_send = websocket.scope.get(SERVER_SEND, websocket.send)

    def show(
        version: int, view: dict[str, Any], newcomer: dict[str, Any] | None
    ) -> Awaitable[None]:
        text = queue_text(str(queue_id), version, view, newcomer, models.now)
        try:  # to the server, past the layers (as an SSE stream's events)
            rest = send_now(server_send, {"type": "websocket.send", "text": text})
        except OSError:  # the client left (as Starlette's WebSocket.send says it)
            raise WebSocketDisconnect(code=1006) from None
        return rest if rest is SENT else _disconnects(rest)

    async def pump() -> None:
        # No keepalives: the server pings WebSockets itself.
        await pump_queue(models, who.tenant_id, str(queue_id), None, lease, show, None)

    async def until_closed() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    # Only sends go out, so a second task listens for the client leaving (else a quiet queue
    # would hold the subscription until its next change).
    try:
        await websocket.accept()
        pumping, listening = asyncio.create_task(pump()), asyncio.create_task(until_closed())
        await asyncio.wait((pumping, listening), return_when=asyncio.FIRST_COMPLETED)
        for task in (pumping, listening):
            task.cancel()
        await asyncio.gather(pumping, listening, return_exceptions=True)
    finally:
        hub.release(lease)
    failure = None if pumping.cancelled() else pumping.exception()
    if isinstance(failure, HubClosed):
        await websocket.close(code=1001, reason="the server is stopping")  # reconnect elsewhere
    elif isinstance(failure, Revoked):  # as a 401: reconnecting with this credential fails
        await websocket.close(code=4401, reason=f"credential {_ended(failure)}")
    elif isinstance(failure, ReadModelUnavailable):
        await websocket.close(code=1013, reason="read model unavailable")  # try again later
    elif failure is not None and not isinstance(failure, WebSocketDisconnect):
        log.error("queue WebSocket failed", exc_info=failure)


async def _disconnects(rest: Awaitable[None]) -> None:
    """The rest of a WebSocket send; the client gone, as Starlette's WebSocket.send says it."""
    try:
        await rest
    except OSError:
        raise WebSocketDisconnect(code=1006) from None


async def _refuse(websocket: WebSocket, problem: ProblemError) -> None:
    """Answer the handshake with the problem (401, 404, 503), where the server can."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        body = problem.body(instance=websocket.url.path)
        await websocket.send_denial_response(
            JSONResponse(
                body,
                status_code=problem.status,
                media_type=PROBLEM_MEDIA_TYPE,
                headers=problem.headers,
            )
        )
    else:
        await websocket.close(code=4000 + problem.status, reason=problem.code)


def _ended(failure: Revoked) -> str:
    return "expired" if isinstance(failure, Expired) else "revoked"


def _event_id(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


def _sse(kind: str, version: int, data: dict[str, Any]) -> bytes:
    return f"id: {version}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode()


async def _follow_ticket(
    models: ReadModels,
    tenant: str,
    ticket_id: str,
    last_id: int | None,
    lease: Lease | None,
    push: Push,
) -> None:
    """Every change of one ticket's status and position, following it across transfers, each
    pushed as one event (a keepalive comment after KEEPALIVE_S of quiet). Raises
    ReadModelUnavailable when the stream must end: the client reconnects with Last-Event-ID.

    Positions come from folding each batch's changes (TicketFollower), so when several tickets
    ahead are called in one batch the follower still sees every step, not only the last.
    Redis is re-read only to start, after a gap, and when the ticket itself changed.
    """
    sent: tuple[str, int] | None = None  # (queue, version) of the last view sent
    if last_id is not None:
        sent = ("", last_id)  # the client has seen up to here (of whichever queue)
    fresh = await models.ticket(tenant, ticket_id)
    while fresh is not None:
        target = _holder(fresh)
        async with models.subscription(tenant, target, lease) as sub:
            sub.keepalive(KEEPALIVE_S)  # no timer per wait: the hub's sweep says when
            # Read again after subscribing, so that no change falls between read and listen.
            fresh = await models.ticket(tenant, ticket_id)
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
                last = await _fold_messages(models, tenant, ticket_id, sub, follower, push)
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
) -> dict[str, Any] | None:
    """Push the views folded from the channel's messages (and keepalives) until a re-read is
    due or the ticket's story is over; returns the last view pushed (None: none).

    While it waits, the common batch (the line moved around the ticket, or its range did) is
    folded and pushed from the hub's task (Follower.direct, `_Direct`) without waking it."""
    direct = None if follower is None else _Direct(follower, push, models.now)
    sub.direct = None if direct is None else direct.show
    try:
        while True:
            waiting = sub.waiter()
            if waiting is not None:
                await waiting
            rest = sub.take_pending()
            if rest is not None:
                await rest
            message = sub.take()
            if message is None:
                continue
            if message is KEEPALIVE_MARK:
                await push(KEEPALIVE)
                continue
            if follower is None or message is RESYNC:
                return None if direct is None else direct.last  # the caller re-reads the ticket
            assert direct is not None
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

    __slots__ = ("_follower", "_now", "_push", "last")

    def __init__(self, follower: TicketFollower, push: Push, now: Callable[[], datetime]) -> None:
        self._follower, self._push, self._now = follower, push, now
        self.last: dict[str, Any] | None = None  # the last view pushed

    def show(self, message: dict[str, Any]) -> Awaitable[None] | None:
        follower = self._follower
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
