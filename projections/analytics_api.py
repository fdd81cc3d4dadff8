"""GET analytics of a queue or of the whole tenant, as JSON or CSV, and how accurate each
queue's wait estimates have been."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from command_api.problems import ProblemError, problem_responses
from domain.hours import is_valid_timezone
from projections.analytics_report import Bucket, Granularity, csv_rows, load_buckets, report
from projections.api import QueueId, ReaderDep, ReadModelsDep
from projections.queries import redis_errors

router = APIRouter(prefix="/v1", tags=["analytics"])

MAX_RANGE = timedelta(days=366)
From = Annotated[datetime | None, Query(
    alias="from", description="Start (ISO 8601 with offset); default: 24 hours before `to`.")]
To = Annotated[datetime | None, Query(
    alias="to", description="End, exclusive (ISO 8601); default: now.")]
BucketParam = Annotated[Granularity, Query(
    alias="bucket", description="Rows per 15 minutes, hour or day (in the queue's time zone).")]
Format = Annotated[Literal["json", "csv"], Query(description="`csv` for a spreadsheet.")]


def _range(start: datetime | None, end: datetime | None,
           now: datetime) -> tuple[datetime, datetime]:
    end = end or now
    start = start or end - timedelta(days=1)
    if start.tzinfo is None or end.tzinfo is None:
        raise ProblemError("validation", "`from` and `to` need a time zone offset (e.g. Z)")
    if not start < end or end - start > MAX_RANGE:
        raise ProblemError("validation", "`from` must be before `to`, at most 366 days apart")
    return start, end


def _answer(result: dict[str, Any], fmt: str, name: str) -> Response:
    if fmt == "json":
        return JSONResponse(result)
    out = io.StringIO()
    csv.writer(out).writerows(csv_rows(result))
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@router.get(
    "/queues/{queue_id}/analytics",
    responses={**problem_responses("not-found"),
               200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"}},
    summary="Arrivals, waits (mean, P50, P90, max), service, SLA, abandonment, counters",
)
async def queue_analytics(
    queue_id: QueueId, who: ReaderDep, models: ReadModelsDep,
    start: From = None, end: To = None, bucket: BucketParam = "1h", format: Format = "json",
) -> Response:
    begin, finish = _range(start, end, models.now())
    queue = await models.queue(who.tenant_id, str(queue_id))
    if queue is None:
        raise ProblemError("not-found", f"queue {queue_id} not found")
    view = queue.view
    async with redis_errors():
        buckets = await load_buckets(models.redis, models.keys, who.tenant_id, str(queue_id),
                                     begin, finish)
    result = report(buckets, begin, finish, bucket, view.get("timezone", "UTC"),
                    int(view["target_wait_seconds"]))
    result["queue_id"] = str(queue_id)
    return _answer(result, format, f"queue-{queue_id}-analytics")


@router.get(
    "/analytics",
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"},
               **problem_responses()},
    summary="The tenant's queues rolled up together",
)
async def tenant_analytics(
    who: ReaderDep, models: ReadModelsDep, start: From = None, end: To = None,
    bucket: BucketParam = "1h", format: Format = "json",
    timezone: Annotated[str, Query(description="Time zone of the rows")] = "UTC",
) -> Response:
    begin, finish = _range(start, end, models.now())
    if not is_valid_timezone(timezone):
        raise ProblemError("validation", f"unknown time zone {timezone!r}")
    merged: list[Bucket] = []
    targets: list[int] = []
    async with redis_errors():
        for queue in await models.queues(who.tenant_id):
            merged.extend(await load_buckets(models.redis, models.keys, who.tenant_id,
                                             queue.queue_id, begin, finish))
            targets.append(int(queue.view["target_wait_seconds"]))
    # Rows are per period across queues; the SLA share uses each queue's own target, counted
    # when measured, so a single target here is only the one reported alongside.
    result = report(merged, begin, finish, bucket, timezone, min(targets, default=900))
    result["tenant_id"] = who.tenant_id
    return _answer(result, format, f"tenant-{uuid.UUID(who.tenant_id)}-analytics")


class EstimatorAccuracy(BaseModel):
    estimator: str = Field(description="rules, learned, or served (what people were shown)")
    estimated: int = Field(description="Tickets given a range when they joined")
    called: int = Field(description="... and called since: the base of the figures below")
    cancelled: int
    transferred: int
    waiting: int
    mae_seconds: float | None = Field(description="Mean absolute error of P50 vs the real wait")
    within_20_percent: float | None = Field(
        description="Share of real waits within +/-20% of the P50 given at enqueue")
    p10_p90_coverage: float | None = Field(
        description="Share of real waits inside P10..P90 (an honest range: about 0.8)")


class AccuracyOut(BaseModel):
    queue_id: str
    version: int = Field(description="The stream version these figures include")
    serving: str = Field(description="The estimator whose ranges the queue shows now")
    served_by: dict[str, int] = Field(description="Ranges shown at enqueue, by estimator")
    estimators: list[EstimatorAccuracy]


@router.get(
    "/queues/{queue_id}/accuracy", response_model=AccuracyOut,
    responses=problem_responses("not-found"),
    summary="How right the wait estimates were: per estimator, every range given at enqueue "
    "against the real wait",
)
async def queue_accuracy(queue_id: QueueId, who: ReaderDep, models: ReadModelsDep) -> Any:
    async with redis_errors():
        raw = await models.redis.get(models.keys.accuracy(who.tenant_id, str(queue_id)))
    if raw is None:
        raise ProblemError("not-found", f"queue {queue_id} not found")
    return json.loads(raw)
