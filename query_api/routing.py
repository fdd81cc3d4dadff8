"""Which queue to join: the tenant's queues that could take a person, best first.

"Best" is the shortest expected wait: the P50 of the queue's own "wait if you join now" (the
estimators' range for a newcomer in the queue's default class, as every queue view shows it).
A queue is left out when it is closed or does not offer the service asked for; a paused queue
comes after every open one (people may join it, but nobody is called). A queue with nobody
waiting and no range yet counts as no wait; one with people waiting and no range yet comes after
those with one. Ties: fewer waiting, then the name. `vq simulate --routing` measures the rule
against random assignment and the shortest line on the same people.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from http_api.auth import permission
from http_api.deps import ReaderDep, ReadModelsDep
from http_api.problems import problem_responses
from query_api.models import NewcomerWait
from query_api.views import queue_out

router = APIRouter(tags=["queries"])


def ranked(
    queues: Sequence[dict[str, Any]],
    service_type: str | None = None,
    among: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The queue views (as the API shows them) that could take a person for `service_type`
    (None: any), limited to `among` when given, best first."""
    wanted = None if among is None else set(among)
    fit = [
        q
        for q in queues
        if q["status"] != "closed"
        and (wanted is None or q["queue_id"] in wanted)
        and (service_type is None or service_type in (q.get("service_types") or ()))
    ]
    return sorted(fit, key=_order)


def _order(queue: dict[str, Any]) -> tuple[bool, float, int, str]:
    estimate = queue.get("estimate")
    if estimate is not None:
        wait = float(estimate["p50_seconds"])
    else:
        wait = 0.0 if queue["waiting"] == 0 else math.inf
    return queue["status"] != "open", wait, queue["waiting"], queue["name"]


class RoutedQueue(BaseModel):
    queue_id: str
    name: str
    status: str
    waiting: int
    estimate: NewcomerWait | None = Field(
        default=None, description="About how long one who joins it now would wait"
    )


class RoutingOut(BaseModel):
    best: RoutedQueue | None = Field(
        description="The queue with the shortest expected wait (null: none could take them)"
    )
    queues: list[RoutedQueue] = Field(description="Every queue that could take them, best first")


def routed(queue: dict[str, Any]) -> dict[str, Any]:
    """A queue as a routing answer names it."""
    return {k: queue.get(k) for k in ("queue_id", "name", "status", "waiting", "estimate")}


@router.get(
    "/v1/routing",
    response_model=RoutingOut,
    summary="Which queue to join: the queues that could take a person, shortest expected wait first",
    responses=problem_responses(),
    openapi_extra=permission("read"),
)
async def recommend(
    who: ReaderDep,
    models: ReadModelsDep,
    service_type: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=50,
            # No control characters, nor U+FFFD (what bytes that are not UTF-8 decode to).
            pattern="^[^\x00-\x1f\x7f\ufffd]+$",
            description="Only queues that offer this service",
        ),
    ] = None,
    queue_id: Annotated[
        list[uuid.UUID] | None,
        Query(max_length=100, description="Only among these queues (repeat the parameter)"),
    ] = None,
) -> dict[str, Any]:
    """A kiosk or a web page asks before taking a ticket; `POST /v1/routing/tickets` takes it in
    the best queue at once. Staff who know better enqueue in the queue they choose."""
    now = models.now()
    views = [queue_out(q, now) for q in await models.queues(who.tenant_id)]
    among = None if queue_id is None else [str(q) for q in queue_id]
    order = [routed(q) for q in ranked(views, service_type, among)]
    return {"best": order[0] if order else None, "queues": order}
