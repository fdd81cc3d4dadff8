"""GET what limits a queue's throughput now (projections.bottlenecks), from its analytics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from http_api.auth import permission
from http_api.deps import ReaderDep, ReadModelsDep
from http_api.formats import Moment
from http_api.problems import ProblemError, problem_responses
from projections.bottleneck_reads import read_evidence
from projections.bottlenecks import find
from projections.queries import redis_errors
from query_api.deps import QueueId

router = APIRouter(prefix="/v1", tags=["analytics"])
EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)

Kind = Literal[
    "counter_idle", "slower_service", "no_show_spike", "arrivals_above_usual", "line_growing"
]


class BottleneckOut(BaseModel):
    kind: Kind = Field(
        description="counter_idle: a counter that usually works now has served nobody for 30 "
        "min while people wait; slower_service: a service type takes 1.25x or more its usual "
        "time; no_show_spike: far more no-shows than usual among the last hour's calls; "
        "arrivals_above_usual: far more people joined than this hour of the weekday brings; "
        "line_growing: people join faster than they are served"
    )
    subject: str | None = Field(
        description='The counter (counter_idle) or service type (slower_service, "" when '
        "none was given); null for the whole queue"
    )
    people_per_hour: float = Field(
        description="What it costs: people an hour not served (or joining above the usual)"
    )
    text: str = Field(description="One sentence for a manager, in English")
    evidence: dict[str, Any] = Field(description="The figures the finding rests on")


class BottlenecksOut(BaseModel):
    queue_id: str
    at: datetime = Field(description="The moment judged")
    window_start: datetime = Field(description="The last hour judged begins here")
    compared_days: int = Field(
        description="Past days of the same weekday with analytics in that hour (up to 8)"
    )
    waiting: int | None = Field(description="Waiting now (null when `at` is in the past)")
    findings: list[BottleneckOut] = Field(
        description="The costliest first; empty when nothing limits the queue beyond the usual"
    )


At = Annotated[
    Moment | None,
    Query(
        description="The moment to judge (ISO 8601 with offset); default: now. In the past, "
        "the line then is not known, so idle counters and a growing line are not judged."
    ),
]


@router.get(
    "/queues/{queue_id}/bottlenecks",
    response_model=BottlenecksOut,
    responses=problem_responses("not-found"),
    summary="What limits the queue's throughput now (idle counters, slower service, no-show "
    "spikes, arrivals above the usual), with the evidence",
    openapi_extra=permission("analytics:read"),
)
async def queue_bottlenecks(
    queue_id: QueueId, who: ReaderDep, models: ReadModelsDep, at: At = None
) -> Any:
    now = models.now()
    queue = await models.queue(who.tenant_id, str(queue_id))
    if queue is None:
        raise ProblemError("not-found", f"queue {queue_id} not found")
    moment = now if at is None or at > now else at
    if moment < EARLIEST:  # nothing is kept from then (and eight weeks before must still be a date)
        return BottlenecksOut(
            queue_id=str(queue_id), at=moment, window_start=moment, compared_days=0,
            waiting=None, findings=[],
        )  # fmt: skip
    live = moment >= now - timedelta(minutes=1)
    async with redis_errors():
        evidence = await read_evidence(
            models.redis, models.keys, who.tenant_id, str(queue_id), queue.view, moment, live=live
        )
    return BottlenecksOut(
        queue_id=str(queue_id),
        at=moment,
        window_start=datetime.fromtimestamp(
            evidence.window.starts[0], tz=ZoneInfo(evidence.timezone)
        ),
        compared_days=len(evidence.past),
        waiting=evidence.waiting if live else None,
        findings=[BottleneckOut(**f.as_dict()) for f in find(evidence)],
    )
