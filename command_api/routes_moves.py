"""Merging and splitting queues: the people waiting in one queue (all of them, or those of some
service types) move to another queue of the organisation in one command, one event trail.

Each keeps the number in their hand and their place in their class: the receiving line
interleaves both lines by priority and by the time each person stands in line by. Those already
called stay at their counters. Nothing moves unless everyone can (room, service types)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import Field

from command_api.execution import Caller, CallerDep, IfMatchHeader, answer, if_match_version
from command_api.fields import Names, Reason, StrictModel
from command_api.models import CommandOut
from domain.commands import MoveWaiting
from http_api.auth import permission
from http_api.problems import problem_responses
from notifications.store import reminders
from service_layer.outcome import Outcome

router = APIRouter(prefix="/v1/queues", tags=["queue commands"])
QueueId = Annotated[uuid.UUID, Path(description="The queue whose line moves")]
_PROBLEMS = (
    "forbidden",
    "not-found",
    "version-conflict",
    "rule-violated",
    "queue-closed",
    "queue-full",
    "queue-empty",
    "malformed-request",
)


class MergeIn(StrictModel):
    to_queue_id: uuid.UUID = Field(description="The queue that takes everyone waiting")
    close: bool = Field(
        default=True, description="Close this queue to newcomers once its line has moved"
    )
    reason: Reason | None = Field(default=None, description="Kept on every event of the merge")


class SplitIn(StrictModel):
    to_queue_id: uuid.UUID = Field(description="The queue that takes those of `service_types`")
    service_types: Annotated[Names, Field(min_length=1, max_length=50)] = Field(
        description="Those waiting for one of these service types move; the others stay"
    )
    reason: Reason | None = Field(default=None, description="Kept on every event of the split")


class MoveOut(CommandOut):
    moved: int = Field(description="How many people moved (in this queue's line order)")
    bookings_moved: int = Field(
        default=0,
        description="How many bookings still to come moved with them (those the other queue "
        "takes at their slot; the others stay booked here)",
    )


def moved(outcome: Outcome) -> int:
    """How many people a merge or split moved (its events in the queue they left)."""
    return sum(1 for kind in outcome.event_types if kind == "TicketTransferredOut")


async def bookings_followed(caller: Caller, outcome: Outcome, to_queue: str) -> int:
    """How many bookings a merge or split moved; their reminders follow them."""
    count = sum(1 for kind in outcome.event_types if kind == "AppointmentTransferredOut")
    if count:
        config = (await caller.svc.queues.load(caller.who.tenant_id, to_queue)).config
        pool = caller.request.app.state.notifications.pool
        await reminders.follow(
            pool,
            caller.who.tenant_id,
            outcome.queue_id,
            to_queue,
            time_zone=config.timezone,
            queue_name=config.name,
        )
    return count


@router.post(
    "/{queue_id}/merge",
    response_model=MoveOut,
    responses=problem_responses(*_PROBLEMS),
    summary="Merge this queue into another: everyone waiting moves, keeping number and place",
    openapi_extra=permission("queues:manage"),
)
async def merge(
    queue_id: QueueId, body: MergeIn, caller: CallerDep, if_match: IfMatchHeader = None
) -> JSONResponse:
    """Everyone waiting here joins `to_queue_id`'s line where their priority and the time they
    stand in line by put them (their numbers unchanged); with `close` (the default) this queue
    then closes to newcomers, while those already called here are served here. 409
    `queue-full` when the other queue has no room for all of them, `queue-empty` when nobody
    waits and there is nothing to close."""
    command = MoveWaiting(to_queue_id=str(body.to_queue_id), close=body.close, reason=body.reason)
    outcome = await caller.execute(
        command, queue_id=str(queue_id), body=body, expected_version=if_match_version(if_match)
    )
    target = str(body.to_queue_id)
    extra = {
        "moved": moved(outcome),
        "bookings_moved": await bookings_followed(caller, outcome, target),
    }
    return answer(outcome, extra=extra)


@router.post(
    "/{queue_id}/split",
    response_model=MoveOut,
    responses=problem_responses(*_PROBLEMS),
    summary="Split off the people waiting for some service types into another queue",
    openapi_extra=permission("queues:manage"),
)
async def split(
    queue_id: QueueId, body: SplitIn, caller: CallerDep, if_match: IfMatchHeader = None
) -> JSONResponse:
    """Those waiting here for one of `service_types` join `to_queue_id`'s line, keeping their
    numbers and their places (the others stay, in their order): the two lines together are the
    old one. This queue must offer each type named (422 otherwise), the other must accept it.
    409 `queue-empty` when nobody of those types waits."""
    command = MoveWaiting(
        to_queue_id=str(body.to_queue_id),
        service_types=tuple(body.service_types),
        reason=body.reason,
    )
    outcome = await caller.execute(
        command, queue_id=str(queue_id), body=body, expected_version=if_match_version(if_match)
    )
    target = str(body.to_queue_id)
    extra = {
        "moved": moved(outcome),
        "bookings_moved": await bookings_followed(caller, outcome, target),
    }
    return answer(outcome, extra=extra)
