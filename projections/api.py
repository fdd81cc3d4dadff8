"""The query API: queues, waiting lines and tickets from the Redis read models, pushed live.

Redis answers every read (the event store is only asked whose a ticket is, for a ticket token,
and whether a ticket Redis does not hold yet exists), and any API replica can serve any reader or
subscriber because live updates come from Redis pub/sub. A reader who just sent a
command passes its `stream_version` as `min_version` and gets that version or newer, or a 409
`stale-read`, never older data presented as fresh.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.websockets import WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import HTTPConnection

from command_api.auth import Principal
from command_api.deps import Services
from command_api.problems import PROBLEM_MEDIA_TYPE, ProblemError, problem_responses
from projections.estimates import shown
from projections.queries import (
    QueueRead,
    ReadModels,
    ReadModelUnavailable,
    StaleRead,
    Subscription,
    TicketFollower,
    TicketRead,
)
from vq.tokens import token_matches

log = logging.getLogger("vq.queries")
router = APIRouter(tags=["queries"])

DEFAULT_WAIT_S = 5.0
MAX_WAIT_S = 30.0
KEEPALIVE_S = 15.0
RECONNECT_MS = 2000
# After these the ticket's story is over: the stream sends the final view and ends.
FINAL_STATUSES = frozenset({"served", "cancelled"})
_READ_PROBLEMS = ("not-found", "stale-read")
_VERSIONED: dict[int | str, dict[str, Any]] = {200: {"headers": {"X-Stream-Version": {
    "description": "The stream version of the queue the answer was read at",
    "schema": {"type": "integer"}}}}}


class WaitEstimate(BaseModel):
    p10_seconds: int = Field(description="Seconds from now: called this soon one time in ten")
    p50_seconds: int = Field(description="Seconds from now: the median")
    p90_seconds: int = Field(description="Seconds from now: called before this nine times in ten")
    p10_at: str = Field(description="The same as moments (ISO 8601): they do not go stale")
    p50_at: str
    p90_at: str
    estimated_at: str = Field(description="When the range was computed (the queue's last event)")
    estimator: str = Field(description="Which estimator gave it: rules or learned")


class NewcomerWait(WaitEstimate):
    ahead: int = Field(description="People a newcomer would find ahead")
    basis: str = Field(description="How it was derived: the range of the last one in line")


class PromisedWait(BaseModel):
    p10_seconds: int
    p50_seconds: int
    p90_seconds: int
    ahead: int = Field(description="People ahead when it joined")
    estimator: str


class TicketView(BaseModel):
    model_config = ConfigDict(extra="allow")

    ticket_id: str
    queue_id: str = Field(description="The queue that holds the ticket now (after transfers)")
    number: str
    status: str
    priority: str
    service_type: str | None = None
    channel: str | None = None
    language: str | None = None
    counter: str | None = None
    recall_count: int = 0
    enqueued_at: str | None = None
    called_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    transferred_to: str | None = None
    position: int | None = Field(default=None, description="1 = next to be called; null unless waiting")
    people_ahead: int | None = None
    estimate: WaitEstimate | None = Field(
        default=None, description="While waiting: how long until the ticket is called, as a "
        "range (P10, P50, P90), recomputed as the line moves")
    estimate_at_enqueue: PromisedWait | None = Field(
        default=None, description="The range given when the ticket joined this queue (kept, "
        "to be measured against `waited_seconds`)")
    waited_seconds: float | None = Field(
        default=None, description="Once called: the real wait from joining to the first call")
    version: int = Field(description="The stream version of the queue this was read at")


class NowServing(BaseModel):
    counter: str
    ticket_id: str
    number: str
    status: str


class NextUp(BaseModel):
    position: int
    ticket_id: str
    number: str
    priority: str


class QueueView(BaseModel):
    model_config = ConfigDict(extra="allow")

    queue_id: str
    version: int = Field(description="The stream version this view reflects")
    name: str
    prefix: str
    status: str
    counters: list[str]
    service_types: list[str]
    priority_classes: list[str]
    capacity: int | None = None
    target_wait_seconds: int | None = None
    waiting: int
    called: int
    serving: int
    waiting_by_priority: dict[str, int]
    totals: dict[str, int]
    now_serving: list[NowServing]
    next: list[NextUp] = Field(description="The first few waiting tickets")
    estimate: NewcomerWait | None = Field(
        default=None, description="About how long one who joins now would wait (null when "
        "nobody waits)")


class QueueList(BaseModel):
    queues: list[QueueView]


class WaitingPageOut(BaseModel):
    queue_id: str
    version: int
    total: int = Field(description="How many are waiting in all")
    offset: int
    limit: int
    tickets: list[TicketView]


# HTTPConnection, not Request: the WebSocket route needs them too. Async: no thread hop.
async def read_models(conn: HTTPConnection) -> ReadModels:
    found: ReadModels = conn.app.state.read_models
    return found


async def services(conn: HTTPConnection) -> Services:
    found: Services = conn.app.state.services
    return found


ReadModelsDep = Annotated[ReadModels, Depends(read_models)]
ServicesDep = Annotated[Services, Depends(services)]
QueueId = Annotated[uuid.UUID, Path(description="The queue's id")]
TicketId = Annotated[uuid.UUID, Path(description="The ticket's id")]
MinVersion = Annotated[int | None, Query(
    ge=0, description="Read your write: answer only once the queue's read model reached this "
    "stream version (the `stream_version` a command answered), else 409 stale-read.")]
Wait = Annotated[float, Query(
    ge=0, le=MAX_WAIT_S, description="How long to wait for `min_version`, in seconds.")]
AccessToken = Annotated[str | None, Query(
    description="The API key, for clients that cannot send headers (EventSource, WebSocket).")]
Authorization = Annotated[str | None, Header(description="Bearer API key")]
LastEventId = Annotated[str | None, Header(
    alias="Last-Event-ID", description="Resume: the last `id` received (EventSource sends it).")]


async def reader(svc: ServicesDep, authorization: Authorization = None,
                 access_token: AccessToken = None) -> Principal:
    """Any role of the tenant may read; the key comes as a header or `?access_token=`."""
    if not authorization and access_token:
        authorization = f"Bearer {access_token}"
    who = await svc.authenticator.authenticate(authorization)
    who.require("read")
    return who


ReaderDep = Annotated[Principal, Depends(reader)]


async def ticket_tenant(
    ticket_id: TicketId, svc: ServicesDep, models: ReadModelsDep,
    authorization: Authorization = None, access_token: AccessToken = None,
    token: Annotated[str | None, Query(description="The ticket's token (instead of a key)")] = None,
    x_ticket_token: Annotated[str | None, Header(alias="X-Ticket-Token",
                                                  description="The ticket's token")] = None,
) -> str:
    """The tenant whose ticket this is, if the caller may read it: a key, or its own token."""
    if authorization or access_token:
        return (await reader(svc, authorization, access_token)).tenant_id
    secret = token or x_ticket_token
    if secret is None:
        raise ProblemError("unauthorized", "send an API key or the ticket's token",
                           headers={"WWW-Authenticate": "Bearer"})
    tenant = None
    if token_matches(svc.settings.token_secret, str(ticket_id), secret):
        tenant = await models.ticket_tenant(str(ticket_id))
    if tenant is None:  # a token of another ticket reads nothing, and says nothing
        raise _not_found("ticket", ticket_id)
    return tenant


TicketTenant = Annotated[str, Depends(ticket_tenant)]


def requested_wait(query: Mapping[str, str]) -> float:
    """The read-your-writes wait a request asked for (the request deadline grows by it)."""
    if "min_version" not in query:
        return 0.0
    try:
        wait = float(query.get("wait", DEFAULT_WAIT_S))
    except ValueError:
        return 0.0
    return min(max(wait, 0.0), MAX_WAIT_S)


@router.get("/v1/queues", response_model=QueueList, summary="The tenant's queues, live counts",
            responses=problem_responses(*_READ_PROBLEMS))
async def list_queues(
    who: ReaderDep, models: ReadModelsDep, response: Response,
    queue_id: Annotated[uuid.UUID | None, Query(
        description="With min_version: the queue whose write you want to read")] = None,
    min_version: MinVersion = None, wait: Wait = DEFAULT_WAIT_S,
) -> dict[str, Any]:
    """Each queue carries its own `version`; versions are per queue, so `min_version` names one."""
    if min_version is not None:
        if queue_id is None:
            raise ProblemError("validation", "min_version needs queue_id on a list of queues")
        await _queue(models, who.tenant_id, queue_id, min_version, wait)
    queues = await models.queues(who.tenant_id)
    named = next((q for q in queues if q.queue_id == str(queue_id)), None)
    if named is not None:
        response.headers["X-Stream-Version"] = str(named.version)
    return {"queues": [queue_out(q, models.now()) for q in queues]}


@router.get("/v1/queues/{queue_id}", response_model=QueueView, summary="One queue, live counts",
            responses={**_VERSIONED, **problem_responses(*_READ_PROBLEMS)})
async def get_queue(
    queue_id: QueueId, who: ReaderDep, models: ReadModelsDep, response: Response,
    min_version: MinVersion = None, wait: Wait = DEFAULT_WAIT_S,
) -> dict[str, Any]:
    found = await _queue(models, who.tenant_id, queue_id, min_version, wait)
    response.headers["X-Stream-Version"] = str(found.version)
    return queue_out(found, models.now())


@router.get("/v1/queues/{queue_id}/waiting", response_model=WaitingPageOut,
            summary="A page of the waiting line, with positions",
            responses={**_VERSIONED, **problem_responses(*_READ_PROBLEMS)})
async def get_waiting(
    queue_id: QueueId, who: ReaderDep, models: ReadModelsDep, response: Response,
    offset: Annotated[int, Query(ge=0, description="Skip this many from the front")] = 0,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size")] = 50,
    min_version: MinVersion = None, wait: Wait = DEFAULT_WAIT_S,
) -> dict[str, Any]:
    if min_version is not None:
        await _queue(models, who.tenant_id, queue_id, min_version, wait)
    page = await models.waiting(who.tenant_id, str(queue_id), offset, limit)
    if page is None:
        raise _not_found("queue", queue_id)
    response.headers["X-Stream-Version"] = str(page.version)
    return {"queue_id": page.queue_id, "version": page.version, "total": page.total,
            "offset": offset, "limit": limit,
            "tickets": [ticket_out(t, models.now()) for t in page.tickets]}


@router.get("/v1/tickets/{ticket_id}", response_model=TicketView,
            summary="One ticket: status, position, counter (API key or the ticket's token)",
            responses={**_VERSIONED, **problem_responses(*_READ_PROBLEMS)})
async def get_ticket(
    ticket_id: TicketId, tenant: TicketTenant, models: ReadModelsDep, response: Response,
    min_version: MinVersion = None, wait: Wait = DEFAULT_WAIT_S,
) -> dict[str, Any]:
    try:
        found = await models.ticket_at(tenant, str(ticket_id), min_version, wait)
    except StaleRead as stale:
        raise _stale(min_version, stale.version) from None
    if found is None:
        raise _not_found("ticket", ticket_id)
    response.headers["X-Stream-Version"] = str(found.version)
    return ticket_out(found, models.now())


_SSE: dict[int | str, dict[str, Any]] = {200: {
    "content": {"text/event-stream": {}}, "headers": _VERSIONED[200]["headers"],
    "description": "Server-Sent Events: `id` = stream version, `data` = the view"}}


@router.get("/v1/tickets/{ticket_id}/events", response_class=StreamingResponse,
            summary="Follow a ticket live (SSE): every position and status change, in order",
            responses={**_SSE, **problem_responses(*_READ_PROBLEMS)})
async def ticket_events(
    ticket_id: TicketId, tenant: TicketTenant, models: ReadModelsDep,
    last_event_id: LastEventId = None, min_version: MinVersion = None, wait: Wait = DEFAULT_WAIT_S,
) -> StreamingResponse:
    try:
        found = await models.ticket_at(tenant, str(ticket_id), min_version, wait)
    except StaleRead as stale:
        raise _stale(min_version, stale.version) from None
    if found is None:
        raise _not_found("ticket", ticket_id)
    stream = _follow_ticket(models, tenant, str(ticket_id), _event_id(last_event_id))
    return _sse_response(stream, found.version)


@router.get("/v1/queues/{queue_id}/events", response_class=StreamingResponse,
            summary="Follow a queue live (SSE): its view after every change",
            responses={**_SSE, **problem_responses(*_READ_PROBLEMS)})
async def queue_events(
    queue_id: QueueId, who: ReaderDep, models: ReadModelsDep, last_event_id: LastEventId = None,
    min_version: MinVersion = None, wait: Wait = DEFAULT_WAIT_S,
) -> StreamingResponse:
    found = await _queue(models, who.tenant_id, queue_id, min_version, wait)
    stream = _follow_queue_sse(models, who.tenant_id, str(queue_id), _event_id(last_event_id))
    return _sse_response(stream, found.version)


@router.websocket("/v1/queues/{queue_id}/ws")
async def queue_socket(
    websocket: WebSocket, queue_id: QueueId, svc: ServicesDep, models: ReadModelsDep,
    access_token: AccessToken = None,
) -> None:
    """The queue's view as JSON text messages, first the current one, then after every change."""
    try:
        who = await reader(svc, websocket.headers.get("authorization"), access_token)
        await _queue(models, who.tenant_id, queue_id, None, 0)
    except ReadModelUnavailable:
        await _refuse(websocket, _unavailable())
        return
    except ProblemError as problem:
        await _refuse(websocket, problem)
        return
    await websocket.accept()

    async def pump() -> None:
        async for queue in _follow_queue(models, who.tenant_id, str(queue_id), None):
            if queue is not None:  # no keepalives: the server pings WebSockets itself
                await websocket.send_text(json.dumps(queue_out(queue, models.now())))

    async def until_closed() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    # Only sends go out, so a second task listens for the client leaving (else a quiet queue
    # would hold the subscription until its next change).
    pumping, listening = asyncio.create_task(pump()), asyncio.create_task(until_closed())
    await asyncio.wait((pumping, listening), return_when=asyncio.FIRST_COMPLETED)
    for task in (pumping, listening):
        task.cancel()
    await asyncio.gather(pumping, listening, return_exceptions=True)
    failure = None if pumping.cancelled() else pumping.exception()
    if isinstance(failure, ReadModelUnavailable):
        await websocket.close(code=1013, reason="read model unavailable")  # try again later
    elif failure is not None and not isinstance(failure, WebSocketDisconnect):
        log.error("queue WebSocket failed", exc_info=failure)


async def _refuse(websocket: WebSocket, problem: ProblemError) -> None:
    """Answer the handshake with the problem (401, 404, 503), where the server can."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        body = problem.body(instance=websocket.url.path)
        await websocket.send_denial_response(JSONResponse(
            body, status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE,
            headers=problem.headers))
    else:
        await websocket.close(code=4000 + problem.status, reason=problem.code)


def _unavailable() -> ProblemError:
    return ProblemError("service-unavailable", "the read models (Redis) are unavailable",
                        headers={"Retry-After": "2"})


@router.get("/board/{queue_id}", response_class=HTMLResponse,
            summary="A live queue board for a screen (HTML; pass the key as ?access_token=)",
            responses=problem_responses("not-found"))
async def board(queue_id: QueueId, who: ReaderDep, models: ReadModelsDep) -> HTMLResponse:
    await _queue(models, who.tenant_id, queue_id, None, 0)
    return HTMLResponse(_board_html(), headers={"Cache-Control": "no-store"})


@cache
def _board_html() -> str:
    return files("projections").joinpath("board.html").read_text(encoding="utf-8")


def queue_out(queue: QueueRead, now: datetime) -> dict[str, Any]:
    estimate = shown(queue.newcomer, now)
    if estimate is not None and queue.newcomer is not None:
        estimate.update(ahead=queue.newcomer["ahead"], basis=queue.newcomer["basis"])
    return {**queue.view, "version": queue.version, "estimate": estimate}


def ticket_out(ticket: TicketRead, now: datetime) -> dict[str, Any]:
    """The ticket as the API shows it: the stored view (less its line key) and its place."""
    view = {k: v for k, v in ticket.view.items() if k != "line"}
    place = ticket.position
    return {**view, "queue_id": ticket.queue_id, "position": place,
            "people_ahead": None if place is None else place - 1,
            "estimate": shown(ticket.eta, now) if view.get("status") == "waiting" else None,
            "version": ticket.version}


async def _queue(models: ReadModels, tenant: str, queue_id: uuid.UUID,
                 min_version: int | None, wait: float) -> QueueRead:
    try:
        found = await models.queue_at(tenant, str(queue_id), min_version, wait)
    except StaleRead as stale:
        raise _stale(min_version, stale.version) from None
    if found is None:
        raise _not_found("queue", queue_id)
    return found


def _not_found(kind: str, ident: uuid.UUID) -> ProblemError:
    return ProblemError("not-found", f"{kind} {ident} not found")


def _stale(wanted: int | None, version: int) -> ProblemError:
    return ProblemError(
        "stale-read", f"the read model is at version {version}, not yet at {wanted}; retry",
        headers={"Retry-After": "1", "X-Stream-Version": str(version)},
        extensions={"version": version})


def _event_id(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


async def _with_retry(stream: AsyncIterator[str]) -> AsyncIterator[str]:
    yield f"retry: {RECONNECT_MS}\n\n"  # how soon EventSource reconnects after a drop
    async for chunk in stream:
        yield chunk


def _sse_response(stream: AsyncIterator[str], version: int) -> StreamingResponse:
    return StreamingResponse(_with_retry(stream), media_type="text/event-stream", headers={
        "Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Stream-Version": str(version)})


def _sse(kind: str, version: int, data: dict[str, Any]) -> str:
    return f"id: {version}\nevent: {kind}\ndata: {json.dumps(data)}\n\n"


async def _follow_queue(
    models: ReadModels, tenant: str, queue_id: str, last_id: int | None
) -> AsyncIterator[QueueRead | None]:
    """The current view (unless the client has it), then one per batch; None = keepalive."""
    async with models.subscription(tenant, queue_id) as sub:
        current = await models.queue(tenant, queue_id)  # after subscribing: nothing slips by
        if current is None:
            return
        if last_id is None or last_id < current.version:
            yield current
        seen = current.version
        while True:
            message = await sub.next(KEEPALIVE_S)
            if message is None:
                yield None
            elif message["version"] > seen:
                seen = message["version"]
                yield QueueRead(queue_id, seen, message["view"], message.get("newcomer"))


async def _follow_queue_sse(
    models: ReadModels, tenant: str, queue_id: str, last_id: int | None
) -> AsyncIterator[str]:
    try:
        async for queue in _follow_queue(models, tenant, queue_id, last_id):
            yield ": keepalive\n\n" if queue is None else _sse("queue", queue.version,
                                                               queue_out(queue, models.now()))
    except ReadModelUnavailable:
        return  # the client reconnects (EventSource does) and gets a 503 until Redis is back


async def _follow_ticket(
    models: ReadModels, tenant: str, ticket_id: str, last_id: int | None
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
            async with models.subscription(tenant, target) as sub:
                # Read again after subscribing, so that no change falls between read and listen.
                fresh = await models.ticket(tenant, ticket_id)
                while fresh is not None and _holder(fresh) == target:
                    follower = None  # None: a transfer's destination has not caught up yet
                    if fresh.queue_id == target:
                        view = ticket_out(fresh, models.now())
                        if _newer(sent, fresh):
                            sent = (fresh.queue_id, fresh.version)
                            yield _sse("ticket", fresh.version, view)
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
    models: ReadModels, tenant: str, ticket_id: str, sub: Subscription,
    follower: TicketFollower | None,
) -> AsyncIterator[str | dict[str, Any]]:
    """Views folded from the channel's messages (keepalives as str), until a re-read is due."""
    while True:
        message = await sub.next(KEEPALIVE_S)
        if message is None:
            yield ": keepalive\n\n"
            continue
        if follower is None:
            return
        fold = follower.fold(message)
        fresh = None
        if fold.touched and not fold.reread:
            read = await models.ticket(tenant, ticket_id)
            fresh = ticket_out(read, models.now()) if read is not None else None
        for view in follower.views(fold, fresh, models.now()):
            yield view
        if fold.reread or follower.status == "transferred":
            return


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
