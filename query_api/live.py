"""Following queues and tickets live: Server-Sent Events and a WebSocket, fed by Redis pub/sub
(so any API replica serves any subscriber) through the process's one subscription
(projections/fanout.py): a follower costs a buffer, not a Redis connection. The events are
written by live_stream.py's EventStream, straight to the server; a ticket's stream is
ticket_stream.py's."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from functools import partial
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import Response, StreamingResponse
from fastapi.websockets import WebSocketDisconnect
from starlette.types import Send

from http_api.auth import permission
from http_api.deps import (
    AccessToken,
    BearerKey,
    ReaderDep,
    ReadModelsDep,
    ServicesDep,
    reader_of,
)
from http_api.limits import refuse_websocket
from http_api.problems import ProblemError, problem_responses
from http_api.security import SERVER_SEND
from projections.fanout import HubClosed
from projections.leases import Expired, Revoked
from projections.live_follower import SENT
from projections.queries import (
    ReadModelUnavailable,
    StaleRead,
)
from projections.read_side import ReadSide, Told
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
    EventStream,
    pump_queue,
    queue_pump,
    send_now,
    telling,
)
from query_api.routes import READ_PROBLEMS, VERSIONED
from query_api.ticket_stream import follow_ticket
from query_api.views import not_found, queue_text, read_queue, stale_read, status_text

log = logging.getLogger("vq.queries")
router = APIRouter(tags=["queries"])

_SSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {}},
        "headers": VERSIONED[200]["headers"],
        "description": "Server-Sent Events: `id` = stream version, `data` = the view; and "
        '`event: status` (no `id`), `{"read_side": "delayed", "since": ...}` while the views '
        'do not keep up with the queue, `{"read_side": "current"}` once they do again',
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
    pump = partial(
        follow_ticket,
        models,
        tenant,
        str(ticket_id),
        _event_id(last_event_id),
        lease,
        known=found,
    )
    return EventStream(telling(hub.read_side, pump), found.version, partial(hub.release, lease))


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
    pump = queue_pump(
        models, who.tenant_id, str(queue_id), _event_id(last_event_id), lease, known=found
    )
    pump = telling(hub.read_side, pump)
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
    """The queue's view as JSON text messages, first the current one, then after every change;
    `{"type": "status", "read_side": "delayed", "since": ...}` while the views do not keep up,
    `{"type": "status", "read_side": "current"}` once they do again. Closed with 4401 when its
    credential is revoked or expires (reconnecting with it is a 401)."""
    hub = hub_of(websocket)
    try:
        who = await reader_of(websocket, svc, bearer, access_token, "read")
        found = await read_queue(models, who.tenant_id, queue_id, None, 0)
        lease = admitted(hub, lease_of(who))
    except ReadModelUnavailable:
        await refuse_websocket(
            websocket,
            ProblemError(
                "service-unavailable",
                ReadModelUnavailable.public_detail,
                headers={"Retry-After": str(ReadModelUnavailable.retry_after_s)},
            ),
        )
        return
    except ProblemError as problem:
        await refuse_websocket(websocket, problem)
        return

    says = _SocketSays(websocket.scope.get(SERVER_SEND, websocket.send), hub.read_side)

    def show(
        version: int, view: dict[str, Any], newcomer: dict[str, Any] | None
    ) -> Awaitable[None]:
        return says.view(queue_text(str(queue_id), version, view, newcomer, models.now))

    async def pump() -> None:
        # The hub's keepalives wake it only to say that the read side's state changed (no
        # frame otherwise: the server pings WebSockets itself). A crowd taking Redis' pool
        # after the handshake's read: that read stands in (as for SSE, pump_queue's `known`).
        await pump_queue(models, who.tenant_id, str(queue_id), None, lease, show, says.quiet, found)

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


class _SocketSays:
    """The queue WebSocket's JSON text frames, to the server past the layers (as an SSE stream's
    events): each view preceded by a status frame (views.status_text) when the read side's state
    changed since the client was told (at the start, only when delayed), as `telling` does for
    SSE; and that status frame alone when the hub wakes an idle follower (Hub.read_side_judged)."""

    __slots__ = ("_read_side", "_send", "_told")

    def __init__(self, server_send: Send, read_side: ReadSide) -> None:
        self._send, self._read_side, self._told = server_send, read_side, Told(read_side)

    def view(self, text: str) -> Awaitable[None]:
        if not self._told.news():
            return self._text(text)
        said = self._text(status_text(self._read_side))
        return self._text(text) if said is SENT else self._then(said, text)

    def quiet(self) -> Awaitable[None]:
        return self._text(status_text(self._read_side)) if self._told.news() else SENT

    def _text(self, text: str) -> Awaitable[None]:
        try:
            rest = send_now(self._send, {"type": "websocket.send", "text": text})
        except OSError:  # the client left (as Starlette's WebSocket.send says it)
            raise WebSocketDisconnect(code=1006) from None
        return rest if rest is SENT else _disconnects(rest)

    async def _then(self, said: Awaitable[None], text: str) -> None:
        await said
        await self._text(text)


async def _disconnects(rest: Awaitable[None]) -> None:
    """The rest of a WebSocket send; the client gone, as Starlette's WebSocket.send says it."""
    try:
        await rest
    except OSError:
        raise WebSocketDisconnect(code=1006) from None


def _ended(failure: Revoked) -> str:
    return "expired" if isinstance(failure, Expired) else "revoked"


def _event_id(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None
