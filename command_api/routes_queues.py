"""Commands on a queue: create, reconfigure, open/pause/resume/close, enqueue, call next."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from fastapi.responses import JSONResponse
from pydantic import Field

from command_api.execution import Caller, CallerDep, IfMatchHeader, answer, if_match_version
from command_api.fields import Name, Prefix, QueueStatusIn, StrictModel
from command_api.mapping import command_out, contact, queue_config, settings_patch
from command_api.models import (
    CallNextIn,
    CloseIn,
    CommandOut,
    EnqueueIn,
    EnqueueOut,
    QueueCreateIn,
    QueuePatchIn,
    ReasonIn,
    SubscriptionIn,
    refuse_push_endpoints,
)
from command_api.personal import REFUSED, drop_unused, seal_details
from command_api.subscribing import confirming, refuse_busy_addresses
from domain.commands import (
    CallNext,
    ChangeQueueSettings,
    CloseQueue,
    CreateQueue,
    EnqueueTicket,
    OpenQueue,
    PauseQueue,
    QueueCommand,
    ResumeQueue,
)
from http_api.auth import permission
from http_api.problems import ProblemError, problem_responses
from notifications.confirmation import Subscribed, subscribe_and_confirm
from service_layer.outcome import TicketSummary

router = APIRouter(prefix="/v1/queues", tags=["queue commands"])
QueueId = Annotated[uuid.UUID, Path(description="The queue's id")]
_ON_QUEUE = ("forbidden", "not-found", "version-conflict", "rule-violated")


@router.post(
    "",
    status_code=201,
    response_model=CommandOut,
    responses=problem_responses(
        "forbidden", "already-exists", "rule-violated", "malformed-request"
    ),
    summary="Create a queue",
    openapi_extra=permission("queues:manage"),
)
async def create_queue(body: QueueCreateIn, caller: CallerDep) -> JSONResponse:
    queue_id = str(uuid.uuid4())
    command = CreateQueue(
        queue_id=queue_id,
        tenant_id=caller.who.tenant_id,
        config=queue_config(body),
        status=body.status,
    )
    outcome = await caller.execute(command, queue_id=queue_id, body=body)
    return answer(outcome, status=201, location=f"/v1/queues/{outcome.queue_id}")


class CloneIn(StrictModel):
    name: Name = Field(description="The new queue's name")
    prefix: Prefix | None = Field(
        default=None, description="Its tickets' prefix (default: the same)"
    )
    status: QueueStatusIn = "open"


@router.post(
    "/{queue_id}/clone",
    status_code=201,
    response_model=CommandOut,
    responses=problem_responses("forbidden", "not-found", "rule-violated", "malformed-request"),
    summary="A new queue with this queue's settings (counters, services, hours, rules)",
    openapi_extra=permission("queues:manage"),
)
async def clone_queue(queue_id: QueueId, body: CloneIn, caller: CallerDep) -> JSONResponse:
    """Everything the source queue is configured with, under a new name (and prefix); none of
    its tickets. The new queue's `QueueCreated` is its own: the two are not linked after."""
    source = await caller.svc.queues.load(caller.who.tenant_id, str(queue_id))
    config = replace(source.config, name=body.name, prefix=body.prefix or source.config.prefix)
    new_id = str(uuid.uuid4())
    command = CreateQueue(
        queue_id=new_id, tenant_id=caller.who.tenant_id, config=config, status=body.status
    )
    outcome = await caller.execute(command, queue_id=new_id, body=body)
    return answer(outcome, status=201, location=f"/v1/queues/{outcome.queue_id}")


@router.patch(
    "/{queue_id}",
    response_model=CommandOut,
    responses=problem_responses(*_ON_QUEUE, "malformed-request"),
    summary="Change a queue's settings (only the fields given)",
    openapi_extra=permission("queues:manage"),
)
async def update_queue(
    queue_id: QueueId,
    caller: CallerDep,
    if_match: IfMatchHeader = None,
    body: Annotated[QueuePatchIn | None, Body()] = None,
) -> JSONResponse:
    body = body or QueuePatchIn()  # no body, `{}` and `null` all change nothing
    command = ChangeQueueSettings(changes=settings_patch(body), reason=body.reason)
    outcome = await caller.execute(
        command, queue_id=str(queue_id), body=body, expected_version=if_match_version(if_match)
    )
    return answer(outcome)


def _lifecycle(path: str, summary: str, make: Callable[[str | None], QueueCommand]) -> None:
    """A change of the queue's status; `make` gets the reason given (pause and close keep it)."""

    async def lifecycle(
        queue_id: QueueId,
        caller: CallerDep,
        body: Annotated[ReasonIn | None, Body()] = None,
        if_match: IfMatchHeader = None,
    ) -> JSONResponse:
        command = make(body.reason if body else None)
        outcome = await caller.execute(
            command, queue_id=str(queue_id), body=body, expected_version=if_match_version(if_match)
        )
        return answer(outcome)

    router.add_api_route(
        f"/{{queue_id}}/{path}",
        lifecycle,
        methods=["POST"],
        response_model=CommandOut,
        responses=problem_responses(*_ON_QUEUE, "invalid-transition", "malformed-request"),
        summary=summary,
        name=f"{path}_queue",
        openapi_extra=permission("queues:operate"),
    )


_lifecycle("open", "Open a closed queue", lambda _: OpenQueue())
_lifecycle("pause", "Pause calling (people can still join)", lambda why: PauseQueue(reason=why))
_lifecycle("resume", "Resume calling", lambda _: ResumeQueue())


@router.post(
    "/{queue_id}/close",
    response_model=CommandOut,
    responses=problem_responses(*_ON_QUEUE, "invalid-transition", "malformed-request"),
    summary="Close the queue to newcomers (those waiting are still served, or sent home)",
    name="close_queue",
    openapi_extra=permission("queues:operate"),
)
async def close_queue(
    queue_id: QueueId,
    caller: CallerDep,
    body: Annotated[CloseIn | None, Body()] = None,
    if_match: IfMatchHeader = None,
) -> JSONResponse:
    """Nobody joins any more. With `cancel_waiting`, everyone still waiting is cancelled first
    (the answer's events: a `TicketCancelled` each, then `QueueClosed`)."""
    close = body or CloseIn()
    if close.cancel_waiting:
        caller.who.require("tickets:operate")
    command = CloseQueue(reason=close.reason, cancel_waiting=close.cancel_waiting)
    outcome = await caller.execute(
        command, queue_id=str(queue_id), body=body, expected_version=if_match_version(if_match)
    )
    return answer(outcome)


@router.post(
    "/{queue_id}/tickets",
    status_code=201,
    response_model=EnqueueOut,
    responses=problem_responses(
        *_ON_QUEUE, "queue-closed", "queue-full", "outside-hours", "malformed-request"
    ),
    summary="Take a ticket (enqueue)",
    openapi_extra=permission("tickets:enqueue"),
)
async def enqueue(
    queue_id: QueueId, caller: CallerDep, body: Annotated[EnqueueIn | None, Body()] = None
) -> JSONResponse:
    content, headers = await take_ticket(str(queue_id), caller, body or EnqueueIn())
    return JSONResponse(content, status_code=201, headers=headers)


async def take_ticket(
    queue_id: str, caller: Caller, body: EnqueueIn, extra: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Enqueue in `queue_id` as `body` asks (with `extra` metadata); the answer's content and
    headers."""
    if body.allow_outside_hours and not caller.who.may("tickets:operate"):
        raise ProblemError("forbidden", "only staff, managers and admins may enqueue outside hours")
    ticket_id = str(uuid.uuid4())
    if body.notify:
        notifications = caller.request.app.state.notifications
        refuse_push_endpoints(body.notify, notifications.guard)
        wishes = [w.wish() for w in body.notify]
        await refuse_busy_addresses(
            notifications.pool,
            caller.who.tenant_id,
            wishes,
            retry_of=(caller.svc.store, caller.idempotency_key),
        )
    personal, sealed = await seal_details(caller, queue_id, ticket_id, contact(body.contact))
    command = EnqueueTicket(
        ticket_id=ticket_id,
        priority=body.priority,
        service_type=body.service_type,
        channel=body.channel,
        personal=personal,
        metadata={**(extra or {}), **body.metadata},
        language=body.language,
        allow_outside_hours=body.allow_outside_hours,
    )
    try:
        outcome = await caller.execute(command, queue_id=queue_id, body=body)
    except REFUSED:
        await drop_unused(caller, sealed, ticket_id)
        raise
    ticket = outcome.ticket
    assert ticket is not None  # an enqueue answers the ticket it made
    if ticket.ticket_id != ticket_id:  # a retry: the first request's ticket holds the details
        await drop_unused(caller, sealed, ticket_id)
    headers = {
        "Location": f"/v1/tickets/{ticket.ticket_id}",
        **({"Idempotent-Replayed": "true"} if outcome.replayed else {}),
    }
    content = command_out(outcome, token_secret=caller.settings.token_secret)
    if body.notify:
        content["subscriptions"] = await _subscribe(caller, ticket, body.notify)
    return content, headers


async def _subscribe(
    caller: Caller, ticket: TicketSummary, notify: Sequence[SubscriptionIn]
) -> list[str]:
    """After the ticket: a retry (same Idempotency-Key) subscribes again, which changes nothing
    and answers the same ids, so the retry's answer is still the first one (and no second
    confirmation is made: only a new subscription has one)."""
    notifications = caller.request.app.state.notifications
    tenant = caller.who.tenant_id
    config = (await caller.svc.queues.load(tenant, ticket.queue_id)).config
    subscribed = Subscribed(
        tenant, ticket.queue_id, ticket.ticket_id, config.name, ticket.number, placed=False
    )
    made = await subscribe_and_confirm(
        confirming(caller.svc, notifications.pool),
        subscribed,
        [w.wish() for w in notify],
    )
    return [s.subscription_id for s in made]


@router.post(
    "/{queue_id}/call-next",
    response_model=CommandOut,
    responses=problem_responses(
        *_ON_QUEUE, "queue-empty", "queue-paused", "counter-busy", "malformed-request"
    ),
    summary="Call the next person to a counter, in the queue's policy order",
    openapi_extra=permission("tickets:operate"),
)
async def call_next(queue_id: QueueId, body: CallNextIn, caller: CallerDep) -> JSONResponse:
    """At a counter whose previous person is still called or being served, the queue's
    `busy_counter_policy` decides: `refuse` (409 `counter-busy`) or `close_previous` (that
    person becomes a no-show, or served if service had started, then the call: `event_types`
    lists both)."""
    command = CallNext(
        counter=body.counter,
        service_types=tuple(body.service_types) if body.service_types else None,
    )
    return answer(await caller.execute(command, queue_id=str(queue_id), body=body))
