"""GET analytics of a queue or of the whole tenant, as JSON or CSV, and how accurate each
queue's wait estimates have been."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from http_api.auth import permission
from http_api.deps import ReaderDep, ReadModelsDep
from http_api.formats import Moment, TimeZone
from http_api.problems import ProblemError, problem_responses
from projections.analytics_report import Bucket, Granularity, csv_rows, load_buckets, report
from projections.queries import redis_errors
from query_api.deps import QueueId
from query_api.models import AccuracyOut

router = APIRouter(prefix="/v1", tags=["analytics"])

From = Annotated[
    Moment | None,
    Query(
        alias="from",
        description="Start (ISO 8601 with offset); default: 24 hours before `to`. "
        "Any range may be asked: only what is kept (`VQ_ANALYTICS_RETENTION_DAYS`) has rows, and "
        "a range that ends before it starts is empty.",
    ),
]
To = Annotated[
    Moment | None, Query(alias="to", description="End, exclusive (ISO 8601); default: now.")
]
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)
BucketParam = Annotated[
    Granularity,
    Query(
        alias="bucket", description="Rows per 15 minutes, hour or day (in the queue's time zone)."
    ),
]
Format = Annotated[Literal["json", "csv"], Query(description="`csv` for a spreadsheet.")]


def _range(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The range asked for (both ends have offsets: they are `Moment`s). Its cost is bounded by
    what is stored in it (rows are kept `VQ_ANALYTICS_RETENTION_DAYS`), not by its length, so
    any range is answered."""
    end = _representable(end or now)
    if start is None:
        start = end - timedelta(days=1) if end - _EARLIEST > timedelta(days=1) else _EARLIEST
    return _representable(start), end


def _representable(moment: datetime) -> datetime:
    """The moment as given, or the first or last one UTC can hold for a moment beyond them
    (year 1 or 9999 with an offset)."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return _EARLIEST if moment.year == 1 else _LATEST
    return moment


def _answer(result: dict[str, Any], fmt: str, name: str) -> Response:
    if fmt == "json":
        return JSONResponse(result)
    out = io.StringIO()
    csv.writer(out).writerows(csv_rows(result))
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get(
    "/queues/{queue_id}/analytics",
    responses={
        **problem_responses("not-found"),
        200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"},
    },
    summary="Arrivals, waits (mean, P50, P90, max), service, SLA, abandonment, counters",
    openapi_extra=permission("analytics:read"),
)
async def queue_analytics(
    queue_id: QueueId,
    who: ReaderDep,
    models: ReadModelsDep,
    start: From = None,
    end: To = None,
    bucket: BucketParam = "1h",
    format: Format = "json",
) -> Response:
    begin, finish = _range(start, end, models.now())
    queue = await models.queue(who.tenant_id, str(queue_id))
    if queue is None:
        raise ProblemError("not-found", f"queue {queue_id} not found")
    view = queue.view
    async with redis_errors():
        buckets = await load_buckets(
            models.redis, models.keys, who.tenant_id, str(queue_id), begin, finish
        )
    result = report(
        buckets,
        begin,
        finish,
        bucket,
        view.get("timezone", "UTC"),
        int(view["target_wait_seconds"]),
    )
    result["queue_id"] = str(queue_id)
    return _answer(result, format, f"queue-{queue_id}-analytics")


@router.get(
    "/analytics",
    responses={
        200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"},
        **problem_responses("not-found"),
    },
    summary="The tenant's queues (or one site's) rolled up together",
    openapi_extra=permission("analytics:read"),
)
async def tenant_analytics(
    who: ReaderDep,
    models: ReadModelsDep,
    start: From = None,
    end: To = None,
    bucket: BucketParam = "1h",
    format: Format = "json",
    timezone: Annotated[TimeZone, Query(description="Time zone of the rows")] = "UTC",
    site: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Only the queues of this site (a queue's `site` setting); a site no "
            "queue names is a 404",
        ),
    ] = None,
) -> Response:
    begin, finish = _range(start, end, models.now())
    merged: list[Bucket] = []
    targets: list[int] = []
    async with redis_errors():
        queues = await models.queues(who.tenant_id)
        if site is not None:
            queues = [q for q in queues if q.view.get("site") == site]
            if not queues:
                raise ProblemError("not-found", f"no queue is at site {site!r}")
        for queue in queues:
            merged.extend(
                await load_buckets(
                    models.redis, models.keys, who.tenant_id, queue.queue_id, begin, finish
                )
            )
            targets.append(int(queue.view["target_wait_seconds"]))
    # Rows are per period across queues; the SLA share uses each queue's own target, counted
    # when measured, so a single target here is only the one reported alongside.
    result = report(merged, begin, finish, bucket, timezone, min(targets, default=900))
    result["tenant_id"] = who.tenant_id
    if site is not None:
        result["site"] = site
    return _answer(result, format, f"tenant-{uuid.UUID(who.tenant_id)}-analytics")


@router.get(
    "/queues/{queue_id}/accuracy",
    response_model=AccuracyOut,
    responses=problem_responses("not-found"),
    summary="How right the wait estimates were: per estimator, every range given at enqueue "
    "against the real wait",
    openapi_extra=permission("analytics:read"),
)
async def queue_accuracy(queue_id: QueueId, who: ReaderDep, models: ReadModelsDep) -> Any:
    async with redis_errors():
        raw = await models.redis.get(models.keys.accuracy(who.tenant_id, str(queue_id)))
    if raw is None:
        raise ProblemError("not-found", f"queue {queue_id} not found")
    return json.loads(raw)
