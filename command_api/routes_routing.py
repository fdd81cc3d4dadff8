"""Taking a ticket in the best queue: the server chooses, among the tenant's queues that could
take the person (open or paused, offering the service), the one with the shortest expected wait
(query_api/routing.py says how), and enqueues there as `POST /v1/queues/{id}/tickets` does.

The ticket's metadata records the choice (`routed`: `best-wait`), so the events say which
tickets were routed; each ticket's range at enqueue and its real wait are kept for every ticket
(the accuracy figures), routed or not. Staff who know better enqueue in the queue they choose.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import Field

from command_api.execution import CallerDep
from command_api.models import EnqueueIn, EnqueueOut
from command_api.routes_queues import take_ticket
from domain.commands import ROUTED_METADATA
from domain.errors import Rejected
from http_api.auth import permission
from http_api.deps import ReadModelsDep
from http_api.problems import ProblemError, problem_responses
from query_api.routing import RoutedQueue, ranked, routed
from query_api.views import queue_out

router = APIRouter(prefix="/v1/routing", tags=["queue commands"])
ROUTED = {ROUTED_METADATA: "best-wait"}
# Refusals after which the next queue of the ranking is tried.
TRY_NEXT = frozenset({"queue-full", "queue-closed", "outside-hours"})


class RoutedIn(EnqueueIn):
    queue_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=100)] | None = Field(
        default=None, description="Choose only among these queues (default: all of the tenant's)"
    )


class RoutedOut(EnqueueOut):
    routing: list[RoutedQueue] = Field(
        description="The queues that could take the person, best first, as they were ranked "
        "(the ticket is in `queue_id`; an idempotent retry answers the first ticket, ranked now)"
    )


@router.post(
    "/tickets",
    status_code=201,
    response_model=RoutedOut,
    responses=problem_responses(
        "forbidden",
        "not-found",
        "rule-violated",
        "queue-closed",
        "queue-full",
        "outside-hours",
        "malformed-request",
    ),
    summary="Take a ticket in the queue with the shortest expected wait",
    openapi_extra=permission("tickets:enqueue"),
)
async def routed_ticket(
    caller: CallerDep, models: ReadModelsDep, body: Annotated[RoutedIn | None, Body()] = None
) -> JSONResponse:
    """404 `not-found` when no queue could take the person (all closed, none offers the
    service, or none of `queue_ids` is the tenant's). A queue that refuses (full, or outside
    its opening hours) passes the person to the next in the ranking; the last one's refusal is
    the answer."""
    body = body or RoutedIn()
    now = models.now()
    views = [queue_out(q, now) for q in await models.queues(caller.who.tenant_id)]
    among = None if body.queue_ids is None else [str(q) for q in body.queue_ids]
    order = ranked(views, body.service_type, among)
    if not order:
        raise ProblemError("not-found", "no open queue could take this ticket")
    extra = {} if len(body.metadata) >= 20 else ROUTED  # metadata holds 20 entries at most
    ranking = [routed(q) for q in order]

    async def take(queue_id: str) -> JSONResponse:
        content, headers = await take_ticket(queue_id, caller, body, extra)
        return JSONResponse({**content, "routing": ranking}, status_code=201, headers=headers)

    for queue in order[:-1]:
        try:
            return await take(queue["queue_id"])
        except Rejected as refused:  # full, or out of hours, since the read model was written
            if refused.code not in TRY_NEXT:
                raise
    return await take(order[-1]["queue_id"])
