"""Counters' breaks: a counter steps away now or later and says when it will be back; or it is
back (early). The board shows the break and the wait estimates count on the return
(domain/breaks.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field, model_validator

from command_api.execution import CallerDep, answer
from command_api.fields import Label, StrictModel
from command_api.models import CommandOut
from domain.commands import EndCounterBreak, SetCounterBreak
from http_api.auth import permission
from http_api.formats import Moment
from http_api.problems import problem_responses

router = APIRouter(prefix="/v1/queues", tags=["queue commands"])
QueueId = Annotated[uuid.UUID, Path(description="The queue's id")]
_ON_BREAK = ("forbidden", "not-found", "version-conflict", "rule-violated", "malformed-request")


class BreakIn(StrictModel):
    """When the counter is back: `ends_at`, or `minutes` after the break starts (one of them:
    a console whose clock is not the service's gives minutes); when it starts: `starts_at`, or
    `starts_in_minutes` from now (at most one), else now."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["ends_at"], "properties": {"ends_at": {"type": "string"}}},
                {"required": ["minutes"], "properties": {"minutes": {"type": "integer"}}},
            ],
            # starts_at and starts_in_minutes: at most one of the two (null is none).
            "not": {
                "required": ["starts_at", "starts_in_minutes"],
                "properties": {
                    "starts_at": {"type": "string"},
                    "starts_in_minutes": {"type": "integer"},
                },
            },
        }
    )

    counter: Label = Field(description="One of the queue's counters")
    ends_at: Moment | None = Field(
        default=None,
        description="When the counter is expected back, with an offset (at most 12 hours after "
        "the break starts)",
    )
    minutes: int | None = Field(
        default=None, ge=1, le=720, description="Or: back this many minutes after it starts"
    )
    starts_at: Moment | None = Field(
        default=None,
        description="When the break starts, with an offset: a planned break (at most 24 hours "
        "ahead); default (or a moment already past): now",
    )
    starts_in_minutes: int | None = Field(
        default=None,
        ge=0,
        le=1440,
        description="Or: the break starts this many minutes from now, by the service's clock (a "
        "planned break from a console whose clock is not the service's); 0: now. Not with "
        "starts_at",
    )

    @model_validator(mode="after")
    def _one_end(self) -> BreakIn:
        if (self.ends_at is None) == (self.minutes is None):
            raise ValueError("give ends_at or minutes (one of the two)")
        if self.starts_at is not None and self.starts_in_minutes is not None:
            raise ValueError("give starts_at or starts_in_minutes (at most one of the two)")
        return self


class BackIn(StrictModel):
    counter: Label = Field(description="The counter that is back (or whose planned break is off)")


@router.post(
    "/{queue_id}/breaks",
    response_model=CommandOut,
    responses=problem_responses(*_ON_BREAK),
    summary="A counter's break, now or planned, and when it will be back",
    openapi_extra=permission("queues:operate"),
)
async def set_break(queue_id: QueueId, body: BreakIn, caller: CallerDep) -> JSONResponse:
    """It replaces the counter's earlier break, if any. Until `ends_at` the counter calls nobody
    in the wait estimates (a call from it ends the break: staff came back early), and the board
    says when it is back."""
    command = SetCounterBreak(
        counter=body.counter,
        ends_at=body.ends_at,
        minutes=body.minutes,
        starts_at=body.starts_at,
        starts_in=body.starts_in_minutes,
    )
    return answer(await caller.execute(command, queue_id=str(queue_id), body=body))


@router.post(
    "/{queue_id}/breaks/end",
    response_model=CommandOut,
    responses=problem_responses(*_ON_BREAK, "invalid-transition"),
    summary="A counter is back from its break (or its planned break is off)",
    openapi_extra=permission("queues:operate"),
)
async def end_break(queue_id: QueueId, body: BackIn, caller: CallerDep) -> JSONResponse:
    """409 `invalid-transition` when the counter has no break under way or planned."""
    command = EndCounterBreak(counter=body.counter)
    return answer(await caller.execute(command, queue_id=str(queue_id), body=body))
