"""POST a staffing plan for a queue's coming day (or the check of an edited one); GET how far it
is, then the plan, as JSON or CSV. The plan is `vq simulate --staffing --queue` made in the
background (advice_api/jobs.py): it changes nothing; a manager opens counters by it, or not."""

from __future__ import annotations

import json
import uuid
from datetime import date as Day
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, field_validator
from starlette.requests import HTTPConnection

from advice_api.jobs import Busy, Full, StaffingJobs
from command_api.fields import StrictModel
from domain.events import QueueOpened
from http_api.auth import permission
from http_api.deps import PrincipalDep, ServicesDep
from http_api.problems import ProblemError, problem_responses
from projections.unavailable import redis_errors
from query_api.deps import QueueId
from simulation.formats import plan_csv

router = APIRouter(prefix="/v1", tags=["analytics"])
RETRY_S = 30
JobId = Annotated[uuid.UUID, Path(description="The staffing plan's id")]


# Counters per quarter hour, at least one of them open (the document says so: `contains`).
OpenSomewhere = Annotated[
    list[Annotated[int, Field(ge=0, le=200)]],
    Field(
        min_length=1,
        max_length=96,
        json_schema_extra={"contains": {"type": "integer", "minimum": 1}},
    ),
]


class StaffingPlanIn(StrictModel):
    date: Day | None = Field(
        default=None,
        description="The day to plan (YYYY-MM-DD); default: the next day the queue opens",
    )
    confidence: float = Field(
        default=0.8,
        ge=0.5,
        le=0.99,
        description="The share of days the plan must keep the P90 wait within the queue's target",
    )
    counters: OpenSomewhere | None = Field(
        default=None,
        description="An edited plan to check as it is (counters per quarter hour of the day's "
        "opening, as a plan gives them; at least one open); none: make a plan",
    )

    @field_validator("counters")
    @classmethod
    def _some_counter(cls, counters: list[int] | None) -> list[int] | None:
        if counters is not None and max(counters) == 0:
            raise ValueError("a plan to check opens at least one counter")
        return counters


class StaffingPlanOut(BaseModel):
    plan_id: str
    queue_id: str
    kind: Literal["plan", "check"]
    status: Literal["queued", "running", "done", "failed"]
    phase: str = Field(
        description="queued, start, search (trying plans), check (fresh days), done or failed"
    )
    done: int = Field(description="Simulated days played in this phase")
    total: int | None = Field(description="Days the phase plays, when known (the check: 20)")
    confidence: float
    error: str | None = None
    plan: dict[str, Any] | None = Field(
        default=None,
        description="When done: `day`, `target_seconds`, `slots` (`time`, `forecast` arrivals, "
        "`counters`), `counter_hours`, `checked` (each fresh day's P90 and whether it passed) "
        "and `checked_share`, as `vq simulate --staffing --json` prints it",
    )


async def _advice(conn: HTTPConnection) -> StaffingJobs:
    jobs: StaffingJobs = conn.app.state.advice  # made in the app's lifespan (vq/api.py)
    return jobs


JobsDep = Annotated[StaffingJobs, Depends(_advice)]


def _out(state: dict[str, Any]) -> StaffingPlanOut:
    total = state.get("total") or None
    return StaffingPlanOut(
        plan_id=state["job_id"],
        queue_id=state["queue_id"],
        kind=state["kind"],
        status=state["status"],
        phase=state["phase"],
        done=int(state.get("done") or 0),
        total=int(total) if total is not None else None,
        confidence=float(state["confidence"]),
        error=state.get("error"),
        plan=json.loads(state["result"]) if state.get("result") else None,
    )


@router.post(
    "/queues/{queue_id}/staffing-plans",
    status_code=202,
    response_model=StaffingPlanOut,
    responses=problem_responses(
        "not-found", "rule-violated", "plan-under-way", "validation", "malformed-request"
    ),
    summary="Make a staffing plan for a coming day (or check an edited one), in the background",
    openapi_extra=permission("queues:manage"),
)
async def start_plan(
    queue_id: QueueId,
    who: PrincipalDep,
    svc: ServicesDep,
    jobs: JobsDep,
    body: Annotated[StaffingPlanIn | None, Body()] = None,
) -> Response:
    body = body or StaffingPlanIn()
    owner = await svc.store.stream_owner(str(queue_id))
    if owner is None or owner[0] != who.tenant_id:
        raise ProblemError("not-found", f"queue {queue_id} not found")
    events = [r.event for r in await svc.store.read_stream(str(queue_id), 0)]
    if not any(isinstance(e, QueueOpened) for e in events):
        raise ProblemError("rule-violated", "the queue has not opened yet: no day to learn from")
    try:
        async with redis_errors():  # Redis away: 503 with Retry-After, no job
            state = await jobs.start(
                who.tenant_id,
                str(queue_id),
                events,
                day=None if body.date is None else body.date.isoformat(),
                confidence=body.confidence,
                counts=body.counters,
            )
    except Full:
        raise ProblemError(
            "service-unavailable",
            "this server is making as many plans as it can; try again in a minute",
            headers={"Retry-After": str(2 * RETRY_S)},
        ) from None
    except Busy:
        raise ProblemError(
            "plan-under-way",
            "a plan is being made for this organisation; try again when it is done",
            headers={"Retry-After": str(RETRY_S)},
        ) from None
    out = _out(state)
    return JSONResponse(
        out.model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/v1/staffing-plans/{out.plan_id}"},
    )


@router.get(
    "/staffing-plans/{plan_id}",
    response_model=StaffingPlanOut,
    responses={
        **problem_responses("not-found", "rule-violated"),
        200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"},
    },
    summary="How far a staffing plan is, then the plan (JSON, or CSV: time,forecast,counters)",
    openapi_extra=permission("analytics:read"),
)
async def get_plan(
    plan_id: JobId,
    who: PrincipalDep,
    jobs: JobsDep,
    format: Annotated[Literal["json", "csv"], Query(description="`csv`: the plan's rows")] = "json",
) -> Any:
    async with redis_errors():
        state = await jobs.get(who.tenant_id, str(plan_id))
    if state is None:
        raise ProblemError("not-found", f"staffing plan {plan_id} not found")
    out = _out(state)
    if format == "json":
        return out
    if out.plan is None:
        raise ProblemError("rule-violated", f"the plan is {out.status}, not done: no rows yet")
    rows = plan_csv((s["time"], s["forecast"], s["counters"]) for s in out.plan["slots"])
    name = f"staffing-{out.plan['day']}.csv"
    return Response(
        rows,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
