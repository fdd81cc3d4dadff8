"""A site's own settings, applied to its queues (`POST /v1/sites/settings`: the time zone and
opening hours every queue of the site keeps), and closing a site in an emergency: every queue of the site (a queue's `site` setting) closes to
newcomers and the people waiting in it move to a queue elsewhere, each keeping their number (when
free there) and their place in their class, as a merge does (`POST /v1/queues/{id}/merge`).

One merge per queue, each atomic; the queues are taken by name. With an Idempotency-Key, each
merge has one of its own (the key and the queue id): a retry closes nothing twice, and answers the
queues still open then (none). Before any moves, the receiving
queue must be outside the site, open or paused, and have room for everyone waiting (by the read
models): a refusal then changes nothing. A merge refused after that (the lines changed in the
meantime) stops the closure there and says which queues were closed already.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from command_api.execution import CallerDep
from command_api.fields import Label, Reason, StrictModel
from command_api.mapping import settings_patch
from command_api.models import OpeningHoursIn, QueuePatchIn
from command_api.routes_moves import bookings_followed, moved
from domain.commands import ChangeQueueSettings, MoveWaiting
from domain.errors import Rejected
from http_api.auth import permission
from http_api.deps import ReadModelsDep
from http_api.formats import TimeZone
from http_api.problems import ProblemError, problem_responses

router = APIRouter(prefix="/v1/sites", tags=["queue commands"])


class CloseSiteIn(StrictModel):
    site: Label = Field(description="The site's name, as its queues' `site` setting gives it")
    to_queue_id: uuid.UUID = Field(description="The queue, at another site, that takes everyone")
    reason: Reason | None = Field(default=None, description="Kept on every event of the closure")


class ClosedQueue(BaseModel):
    queue_id: str
    moved: int
    bookings_moved: int = Field(description="Bookings still to come that moved too")
    stream_version: int


class CloseSiteOut(BaseModel):
    site: str
    closed: list[ClosedQueue] = Field(description="Each queue of the site, as it was closed")
    to_queue_id: str
    stream_version: int | None = Field(description="The receiving queue's version after the last")


@router.post(
    "/close",
    response_model=CloseSiteOut,
    responses=problem_responses(
        "forbidden",
        "not-found",
        "rule-violated",
        "queue-closed",
        "queue-full",
        "version-conflict",
        "malformed-request",
    ),
    summary="Close every queue of a site and move the people waiting to a queue elsewhere",
    openapi_extra=permission("queues:manage"),
)
async def close_site(body: CloseSiteIn, caller: CallerDep, models: ReadModelsDep) -> JSONResponse:
    """404 when no queue names the site or the receiving queue is not the organisation's; 409
    `rule-violated` when it is at the site itself, `queue-closed` when it is closed,
    `queue-full` when it has no room for everyone waiting at the site."""
    views = {q.queue_id: q.view for q in await models.queues(caller.who.tenant_id)}
    target = str(body.to_queue_id)
    at_site = sorted(
        (v for v in views.values() if v.get("site") == body.site and v["status"] != "closed"),
        key=lambda v: (v["name"], v["queue_id"]),
    )
    if not at_site and not any(v.get("site") == body.site for v in views.values()):
        raise ProblemError("not-found", f"no queue is at site {body.site!r}")
    _check_target(views.get(target), body.site, sum(v["waiting"] for v in at_site))
    closed: list[dict[str, Any]] = []
    last: int | None = None
    reason = body.reason or f"site {body.site} closed"
    for view in at_site:
        command = MoveWaiting(to_queue_id=target, close=True, reason=reason)
        # One Idempotency-Key for the request, one per queue's merge (else the second merge
        # would answer the first one's outcome).
        key = caller.idempotency_key
        per_queue = replace(caller, idempotency_key=key and f"{key}:{view['queue_id']}")
        try:
            outcome = await per_queue.execute(command, queue_id=view["queue_id"], body=body)
        except Rejected as refused:
            done = ", ".join(c["queue_id"] for c in closed) or "none"
            raise Rejected(refused.code, f"{refused.detail} (closed already: {done})") from None
        closed.append(
            {
                "queue_id": view["queue_id"],
                "moved": moved(outcome),
                "bookings_moved": await bookings_followed(caller, outcome, target),
                "stream_version": outcome.versions[view["queue_id"]],
            }
        )
        last = outcome.versions.get(target, last)
    answer = {"site": body.site, "closed": closed, "to_queue_id": target, "stream_version": last}
    return JSONResponse(answer)


class SiteSettingsIn(StrictModel):
    """A site's time zone and opening hours: each queue of the site is given them (one settings
    change per queue, as `PATCH /v1/queues/{id}` makes)."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["timezone"], "properties": {"timezone": {"type": "string"}}},
                {"required": ["opening_hours"], "properties": {"opening_hours": {"type": "array"}}},
            ]
        }
    )

    site: Label = Field(description="The site's name, as its queues' `site` setting gives it")
    timezone: TimeZone | None = None
    opening_hours: Annotated[list[OpeningHoursIn], Field(max_length=70)] | None = None
    reason: Reason | None = Field(default=None, description="Kept on every queue's change")

    @model_validator(mode="after")
    def _something(self) -> SiteSettingsIn:
        if self.timezone is None and self.opening_hours is None:
            raise ValueError("give the site's timezone, its opening_hours, or both")
        return self


class SiteQueue(BaseModel):
    queue_id: str
    stream_version: int


class SiteSettingsOut(BaseModel):
    site: str
    queues: list[SiteQueue] = Field(description="Each queue of the site, as it was changed")


@router.post(
    "/settings",
    response_model=SiteSettingsOut,
    responses=problem_responses("forbidden", "not-found", "rule-violated", "malformed-request"),
    summary="Give every queue of a site the site's time zone and opening hours",
    openapi_extra=permission("queues:manage"),
)
async def site_settings(
    body: SiteSettingsIn, caller: CallerDep, models: ReadModelsDep
) -> JSONResponse:
    """404 when no queue names the site. Each queue's change is atomic; with an
    Idempotency-Key each has one of its own (the key and the queue id)."""
    at_site = sorted(
        (
            q.view
            for q in await models.queues(caller.who.tenant_id)
            if q.view.get("site") == body.site
        ),
        key=lambda v: (v["name"], v["queue_id"]),
    )
    if not at_site:
        raise ProblemError("not-found", f"no queue is at site {body.site!r}")
    patch = QueuePatchIn.model_validate(body.model_dump(exclude_none=True, exclude={"site"}))
    command = ChangeQueueSettings(
        changes=settings_patch(patch), reason=body.reason or f"site {body.site} settings"
    )
    changed = []
    for view in at_site:
        key = caller.idempotency_key
        per_queue = replace(caller, idempotency_key=key and f"{key}:{view['queue_id']}")
        outcome = await per_queue.execute(command, queue_id=view["queue_id"], body=body)
        changed.append({"queue_id": view["queue_id"], "stream_version": outcome.stream_version})
    return JSONResponse({"site": body.site, "queues": changed})


def _check_target(view: dict[str, Any] | None, site: str, waiting: int) -> None:
    if view is None:
        raise ProblemError("not-found", "the receiving queue was not found")
    if view.get("site") == site:
        raise Rejected("validation", "the receiving queue is at the site being closed")
    if view["status"] == "closed":
        raise Rejected("queue-closed", f"queue {view['queue_id']} is closed")
    capacity = view.get("capacity")
    if capacity is not None and view["waiting"] + waiting > capacity:
        room = max(capacity - view["waiting"], 0)
        raise Rejected("queue-full", f"room for {room} more there, and {waiting} wait at the site")
