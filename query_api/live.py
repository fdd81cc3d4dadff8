"""Following queues and tickets live: Server-Sent Events and a WebSocket, fed by Redis pub/sub
(so any API replica serves any subscriber) through the process's one subscription
(projections/fanout.py): a follower costs a buffer, not a Redis connection."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, StreamingResponse
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
from observability import tracing
from projections.fanout import RESYNC, HubClosed, Lease
from projections.follower import TicketFollower
from projections.leases import Expired, Revoked
from projections.queries import (
    QueueRead,
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
from query_api.leases import LIVE_PROBLEMS, admitted, hub_of, lease_of, released, ticket_lease
from query_api.routes import READ_PROBLEMS, VERSIONED
from query_api.views import not_found, queue_json, read_queue, stale_read, ticket_out

log = logging.getLogger("vq.queries")
router = APIRouter(tags=["queries"])

KEEPALIVE_S = 15.0
RECONNECT_MS = 2000
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
) -> StreamingResponse:
    try:
        found = await models.ticket_at(tenant, str(ticket_id), min_version, wait)
    except StaleRead as behind:
        raise stale_read(min_version, behind.version) from None
    if found is None:
        raise not_found("ticket", ticket_id)
    hub = hub_of(request)
    lease = admitted(hub, await ticket_lease(request, svc, str(ticket_id), bearer))
    stream = _follow_ticket(models, tenant, str(ticket_id), _event_id(last_event_id), lease)
    return _sse_response(released(stream, hub, lease), found.version)


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
) -> StreamingResponse:
    found = await read_queue(models, who.tenant_id, queue_id, min_version, wait)
    hub = hub_of(request)
    lease = admitted(hub, lease_of(who))
    stream = _follow_queue_sse(
        models, who.tenant_id, str(queue_id), _event_id(last_event_id), lease
    )
    return _sse_response(released(stream, hub, lease), found.version)


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

    async def pump() -> None:
        async for queue in _follow_queue(models, who.tenant_id, str(queue_id), None, lease):
            if queue is not None:  # no keepalives: the server pings WebSockets itself
                await websocket.send_text(queue_json(queue, models.now()))

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


async def _with_retry(stream: AsyncIterator[str]) -> AsyncIterator[str]:
    yield f"retry: {RECONNECT_MS}\n\n"  # how soon EventSource reconnects after a drop
    async for chunk in stream:
        yield chunk


def _sse_response(stream: AsyncIterator[str], version: int) -> StreamingResponse:
    return StreamingResponse(
        _with_retry(stream),
        media_type="text/event-stream",
        headers={
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            "X-Stream-Version": str(version),
        },
    )


def _sse(kind: str, version: int, data: dict[str, Any]) -> str:
    return f"id: {version}\nevent: {kind}\ndata: {json.dumps(data)}\n\n"


async def _follow_queue(
    models: ReadModels,
    tenant: str,
    queue_id: str,
    last_id: int | None,
    lease: Lease | None = None,
) -> AsyncIterator[QueueRead | None]:
    """The current view (unless the client has it), then one per batch; None = keepalive."""
    async with models.subscription(tenant, queue_id, lease) as sub:
        current = await models.queue(tenant, queue_id)  # after subscribing: nothing slips by
        if current is None:
            return
        if last_id is None or last_id < current.version:
            yield current
        seen = current.version
        while True:
            message = await sub.latest(KEEPALIVE_S)  # views are whole: skip superseded ones
            if message is None:
                yield None
            elif message is RESYNC:  # fell behind: what the view is now is all that matters
                current = await models.queue(tenant, queue_id)
                if current is not None and current.version > seen:
                    seen = current.version
                    yield current
            elif message["version"] > seen:
                seen = message["version"]
                with tracing.pushed(message):  # the push span (tracing on): until it is sent
                    yield QueueRead(queue_id, seen, message["view"], message.get("newcomer"))


async def _follow_queue_sse(
    models: ReadModels,
    tenant: str,
    queue_id: str,
    last_id: int | None,
    lease: Lease | None = None,
) -> AsyncIterator[str]:
    try:
        async for queue in _follow_queue(models, tenant, queue_id, last_id, lease):
            yield (
                ": keepalive\n\n"
                if queue is None
                else f"id: {queue.version}\nevent: queue\ndata: {queue_json(queue, models.now())}\n\n"
            )
    except ReadModelUnavailable:
        return  # the client reconnects (EventSource does) and gets a 503 until Redis is back


async def _follow_ticket(
    models: ReadModels,
    tenant: str,
    ticket_id: str,
    last_id: int | None,
    lease: Lease | None = None,
) -> AsyncIterator[str]:
    """Every change of one ticket's status and position, following it across transfers.

    Positions come from folding each batch's changes (TicketFollower), so when several tickets
    ahead are called in one batch the follower still sees every step, not only the last.
    Redis is re-read only to start, after a gap, and when the ticket itself changed.
    """
    sent: tuple[str, int] | None = None  # (queue, version) of the last view sent
    if last_id is not None:
        sent = ("", last_id)  # the client has seen up to here (of whichever queue)
    try:
        fresh = await models.ticket(tenant, ticket_id)
        while fresh is not None:
            target = _holder(fresh)
            async with models.subscription(tenant, target, lease) as sub:
                # Read again after subscribing, so that no change falls between read and listen.
                fresh = await models.ticket(tenant, ticket_id)
                while fresh is not None and _holder(fresh) == target:
                    follower = None  # None: a transfer's destination has not caught up yet
                    if fresh.queue_id == target:
                        view = ticket_out(fresh, models.now())
                        if _newer(sent, fresh):
                            for missed in await _catch_up(models, tenant, sent, fresh, view):
                                yield _sse("ticket", missed["version"], missed)
                            sent = (fresh.queue_id, fresh.version)
                        if fresh.view.get("status") in FINAL_STATUSES:
                            return
                        follower = TicketFollower(ticket_id, view, fresh.eta)
                    async for event in _fold_messages(models, tenant, ticket_id, sub, follower):
                        if isinstance(event, str):
                            yield event
                        else:
                            sent = (target, event["version"])
                            yield _sse("ticket", event["version"], event)
                            if event["status"] in FINAL_STATUSES:
                                return
                    fresh = await models.ticket(tenant, ticket_id)
    except ReadModelUnavailable:
        return  # the client reconnects (EventSource does) with Last-Event-ID


async def _fold_messages(
    models: ReadModels,
    tenant: str,
    ticket_id: str,
    sub: Subscription,
    follower: TicketFollower | None,
) -> AsyncIterator[str | dict[str, Any]]:
    """Views folded from the channel's messages (keepalives as str), until a re-read is due."""
    while True:
        message = await sub.next(KEEPALIVE_S)
        if message is None:
            yield ": keepalive\n\n"
            continue
        if follower is None or message is RESYNC:
            return  # the caller re-reads the ticket (RESYNC: it fell behind the channel)
        fold = follower.fold(message)
        fresh = None
        if fold.touched and not fold.reread:
            read = await models.ticket(tenant, ticket_id)
            fresh = ticket_out(read, models.now()) if read is not None else None
        for view in follower.views(fold, fresh, models.now()):
            yield view
        if fold.reread or follower.status == "transferred":
            return


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
