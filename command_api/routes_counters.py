"""A counter that serves several queues: call the next person from whichever of them has waited
longest (or longest for its weight), in one request.

The choice reads the read models (each queue's next person and when they joined); the call
itself is the queue's own `call-next`, decided on the queue's state: if that queue has nobody
left, is paused, or its line changed so that nobody is there, the next queue in the ranking is
tried. A counter still busy with somebody in one of the queues calls nobody (409
`counter-busy`, naming the queue): it finishes there first.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field

from command_api.execution import CallerDep, answer
from command_api.fields import Label, StrictModel
from command_api.models import CommandOut
from domain.commands import CallNext
from domain.errors import Rejected
from http_api.auth import permission
from http_api.deps import ReadModelsDep
from http_api.problems import problem_responses
from projections.queries import QueueRead, ReadModels

router = APIRouter(prefix="/v1/counters", tags=["queue commands"])
# Refusals after which the next queue in the ranking is tried.
TRY_NEXT = frozenset({"queue-empty", "queue-paused"})


class CallAmongIn(StrictModel):
    counter: Label = Field(description="The counter calling (each of the queues must have it)")
    queue_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=20)] = Field(
        description="The queues this counter serves"
    )
    rule: Literal["longest_wait", "weighted"] = Field(
        default="longest_wait",
        description="`longest_wait`: the queue whose next person joined first; `weighted`: the "
        "longest wait times the queue's weight",
    )
    weights: dict[str, Annotated[float, Field(gt=0, le=100)]] | None = Field(
        default=None,
        max_length=20,
        description="`weighted` only: queue id -> weight (default 1)",
    )


class CallAmongOut(CommandOut):
    tried: list[str] = Field(description="The queues asked, in the order they were ranked")


async def _heads(models: ReadModels, tenant: str, queues: list[QueueRead]) -> dict[str, datetime]:
    """When the next person of each queue (that has one) joined."""
    firsts = {
        q.queue_id: q.view["next"][0]["ticket_id"]
        for q in queues
        if q.view.get("next") and q.view.get("status") == "open"
    }
    # Read at once (one round trip's time, not one per queue).
    heads = await asyncio.gather(*(models.ticket(tenant, t) for t in firsts.values()))
    return {
        queue_id: datetime.fromisoformat(head.view["enqueued_at"])
        for queue_id, head in zip(firsts, heads, strict=True)
        if head is not None and head.view.get("enqueued_at")
    }


def _busy_elsewhere(queues: list[QueueRead], counter: str) -> str | None:
    for queue in queues:
        for serving in queue.view.get("now_serving") or []:
            if serving["counter"] == counter:
                return queue.queue_id
    return None


def ranking(
    joined: dict[str, datetime], now: datetime, weights: dict[str, float] | None
) -> list[str]:
    """Queue ids, the one to call from first: longest wait (times its weight) first."""

    def score(queue_id: str) -> float:
        waited = max((now - joined[queue_id]).total_seconds(), 0.0)
        return waited * (weights or {}).get(queue_id, 1.0)

    return sorted(joined, key=lambda q: (-score(q), joined[q], q))


@router.post(
    "/call-next",
    response_model=CallAmongOut,
    responses=problem_responses(
        "forbidden",
        "not-found",
        "queue-empty",
        "counter-busy",
        "rule-violated",
        "version-conflict",
        "malformed-request",
    ),
    summary="Call the next person to this counter from the queues it serves, longest wait first",
    openapi_extra=permission("tickets:operate"),
)
async def call_among(body: CallAmongIn, caller: CallerDep, models: ReadModelsDep) -> JSONResponse:
    """404 when one of `queue_ids` is not the organisation's; 409 `queue-empty` when nobody
    waits in any of them; 409 `counter-busy` when the counter still has somebody in one."""
    tenant, counter = caller.who.tenant_id, body.counter
    wanted = list(dict.fromkeys(str(q) for q in body.queue_ids))
    found = {q.queue_id: q for q in await models.queues(tenant) if q.queue_id in wanted}
    missing = [q for q in wanted if q not in found]
    if missing:
        raise Rejected("not-found", f"queue {missing[0]} not found")
    queues = [found[q] for q in wanted]
    busy = _busy_elsewhere(queues, counter)
    if busy is not None:
        raise Rejected("counter-busy", f"counter {counter} is busy in queue {busy}")
    weights = body.weights if body.rule == "weighted" else None
    order = ranking(await _heads(models, tenant, queues), models.now(), weights)
    for queue_id in order:
        try:
            outcome = await caller.execute(CallNext(counter=counter), queue_id=queue_id, body=body)
        except Rejected as refused:
            if refused.code in TRY_NEXT:
                continue
            raise
        return answer(outcome, extra={"tried": order[: order.index(queue_id) + 1]})
    raise Rejected("queue-empty", "nobody is waiting in any of these queues")
