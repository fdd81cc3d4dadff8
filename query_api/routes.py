"""Reading queues, their lines and tickets from the Redis read models.

Redis answers every read (the event store is only asked whose a ticket is, for a ticket token,
and whether a queue or ticket Redis does not hold yet exists), so any API replica serves any
reader. A reader who just sent a command passes its `stream_version` as `min_version` and gets
that version or newer, or a 409 `stale-read`, never older data presented as fresh.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from http_api.auth import permission
from http_api.deps import ReaderDep, ReadModelsDep
from http_api.problems import problem_responses
from projections.queries import StaleRead
from query_api.deps import (
    DEFAULT_WAIT_S,
    MinVersion,
    QueueId,
    TicketId,
    TicketTenant,
    Wait,
)
from query_api.models import QueueList, QueueView, TicketView, WaitingPageOut
from query_api.views import not_found, queue_out, read_queue, stale_read, ticket_out

router = APIRouter(tags=["queries"])

READ_PROBLEMS = ("not-found", "stale-read")
VERSIONED: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            "X-Stream-Version": {
                "description": "The stream version of the queue the answer was read at",
                "schema": {"type": "integer"},
            }
        }
    }
}


@router.get(
    "/v1/queues",
    response_model=QueueList,
    summary="The tenant's queues, live counts",
    responses=problem_responses(*READ_PROBLEMS),
    openapi_extra=permission("read"),
)
async def list_queues(
    who: ReaderDep,
    models: ReadModelsDep,
    response: Response,
    queue_id: Annotated[
        uuid.UUID | None,
        Query(description="With min_version: the queue whose write you want to read"),
    ] = None,
    min_version: Annotated[
        int | None,
        Query(
            ge=0,
            description="With queue_id: answer once that queue's read model reached this "
            "stream version (versions are per queue, so without queue_id there is nothing to wait "
            "for and the list is answered as it is).",
        ),
    ] = None,
    wait: Wait = DEFAULT_WAIT_S,
) -> dict[str, Any]:
    """Each queue carries its own `version`; versions are per queue, so `min_version` names one."""
    if min_version is not None and queue_id is not None:
        await read_queue(models, who.tenant_id, queue_id, min_version, wait)
    queues = await models.queues(who.tenant_id)
    named = next((q for q in queues if q.queue_id == str(queue_id)), None)
    if named is not None:
        response.headers["X-Stream-Version"] = str(named.version)
    return {"queues": [queue_out(q, models.now()) for q in queues]}


@router.get(
    "/v1/queues/{queue_id}",
    response_model=QueueView,
    summary="One queue, live counts",
    responses={**VERSIONED, **problem_responses(*READ_PROBLEMS)},
    openapi_extra=permission("read"),
)
async def get_queue(
    queue_id: QueueId,
    who: ReaderDep,
    models: ReadModelsDep,
    response: Response,
    min_version: MinVersion = None,
    wait: Wait = DEFAULT_WAIT_S,
) -> dict[str, Any]:
    found = await read_queue(models, who.tenant_id, queue_id, min_version, wait)
    response.headers["X-Stream-Version"] = str(found.version)
    return queue_out(found, models.now())


@router.get(
    "/v1/queues/{queue_id}/waiting",
    response_model=WaitingPageOut,
    summary="A page of the waiting line, with positions",
    responses={**VERSIONED, **problem_responses(*READ_PROBLEMS)},
    openapi_extra=permission("read"),
)
async def get_waiting(
    queue_id: QueueId,
    who: ReaderDep,
    models: ReadModelsDep,
    response: Response,
    offset: Annotated[
        int, Query(ge=0, le=10_000_000, description="Skip this many from the front")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size")] = 50,
    min_version: MinVersion = None,
    wait: Wait = DEFAULT_WAIT_S,
) -> dict[str, Any]:
    if min_version is not None:
        await read_queue(models, who.tenant_id, queue_id, min_version, wait)
    page = await models.waiting(who.tenant_id, str(queue_id), offset, limit)
    if page is None:
        raise not_found("queue", queue_id)
    response.headers["X-Stream-Version"] = str(page.version)
    return {
        "queue_id": page.queue_id,
        "version": page.version,
        "total": page.total,
        "offset": offset,
        "limit": limit,
        "tickets": [ticket_out(t, models.now()) for t in page.tickets],
    }


@router.get(
    "/v1/tickets/{ticket_id}",
    response_model=TicketView,
    summary="One ticket: status, position, counter (API key or the ticket's token)",
    responses={**VERSIONED, **problem_responses(*READ_PROBLEMS)},
    openapi_extra=permission("ticket-token", bearer="read"),
)
async def get_ticket(
    ticket_id: TicketId,
    tenant: TicketTenant,
    models: ReadModelsDep,
    response: Response,
    min_version: MinVersion = None,
    wait: Wait = DEFAULT_WAIT_S,
) -> dict[str, Any]:
    try:
        found = await models.ticket_at(tenant, str(ticket_id), min_version, wait)
    except StaleRead as behind:
        raise stale_read(min_version, behind.version) from None
    if found is None:
        raise not_found("ticket", ticket_id)
    response.headers["X-Stream-Version"] = str(found.version)
    return ticket_out(found, models.now())
