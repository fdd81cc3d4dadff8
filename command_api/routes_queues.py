"""Commands on a queue: create, reconfigure, open/pause/resume/close, enqueue, call next."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import JSONResponse

from command_api.deps import (
    CorrelationHeader,
    IdempotencyKeyHeader,
    IfMatchHeader,
    PrincipalDep,
    ServicesDep,
    if_match_version,
    run_queue_command,
)
from command_api.handlers import Outcome
from command_api.mapping import command_out, contact, queue_config, settings_patch
from command_api.models import (
    CallNextIn,
    CommandOut,
    EnqueueIn,
    QueueCreateIn,
    QueuePatchIn,
    ReasonIn,
)
from command_api.problems import ProblemError, problem_responses
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
from domain.events import TicketCalled

router = APIRouter(prefix="/v1/queues", tags=["queue commands"])
QueueId = Annotated[uuid.UUID, Path(description="The queue's id")]
_ON_QUEUE = ("forbidden", "not-found", "version-conflict")


@router.post(
    "",
    status_code=201,
    response_model=CommandOut,
    responses=problem_responses("forbidden", "already-exists", "malformed-request"),
    summary="Create a queue",
)
async def create_queue(
    body: QueueCreateIn,
    request: Request,
    svc: ServicesDep,
    who: PrincipalDep,
    idempotency_key: IdempotencyKeyHeader = None,
    correlation: CorrelationHeader = None,
) -> JSONResponse:
    who.require("queues:manage")
    queue_id = str(uuid.uuid4())
    command = CreateQueue(
        queue_id=queue_id, tenant_id=who.tenant_id, config=queue_config(body), status=body.status
    )
    answer = await run_queue_command(
        svc, who, request, queue_id=queue_id, command=command, body=body,
        idempotency_key=idempotency_key, correlation=correlation,
        respond=lambda outcome: (201, command_out(outcome)), creating=True,
    )
    return answer.response(location=f"/v1/queues/{answer.body['queue_id']}")


@router.patch(
    "/{queue_id}",
    response_model=CommandOut,
    responses=problem_responses(*_ON_QUEUE, "malformed-request"),
    summary="Change a queue's settings (only the fields given)",
)
async def update_queue(
    queue_id: QueueId,
    body: QueuePatchIn,
    request: Request,
    svc: ServicesDep,
    who: PrincipalDep,
    idempotency_key: IdempotencyKeyHeader = None,
    correlation: CorrelationHeader = None,
    if_match: IfMatchHeader = None,
) -> JSONResponse:
    who.require("queues:manage")
    command = ChangeQueueSettings(changes=settings_patch(body))
    answer = await run_queue_command(
        svc, who, request, queue_id=str(queue_id), command=command, body=body,
        idempotency_key=idempotency_key, correlation=correlation,
        expected_version=if_match_version(if_match),
    )
    return answer.response()


def _lifecycle(path: str, summary: str, with_reason: bool) -> None:
    def make(reason: str | None) -> QueueCommand:
        commands: dict[str, QueueCommand] = {
            "open": OpenQueue(),
            "resume": ResumeQueue(),
            "pause": PauseQueue(reason=reason),
            "close": CloseQueue(reason=reason),
        }
        return commands[path]

    async def lifecycle(
        queue_id: QueueId,
        request: Request,
        svc: ServicesDep,
        who: PrincipalDep,
        body: Annotated[ReasonIn | None, Body()] = None,
        idempotency_key: IdempotencyKeyHeader = None,
        correlation: CorrelationHeader = None,
        if_match: IfMatchHeader = None,
    ) -> JSONResponse:
        who.require("queues:operate")
        answer = await run_queue_command(
            svc, who, request, queue_id=str(queue_id),
            command=make(body.reason if body and with_reason else None), body=body,
            idempotency_key=idempotency_key, correlation=correlation,
            expected_version=if_match_version(if_match),
        )
        return answer.response()

    router.add_api_route(
        f"/{{queue_id}}/{path}",
        lifecycle,
        methods=["POST"],
        response_model=CommandOut,
        responses=problem_responses(*_ON_QUEUE, "invalid-transition", "malformed-request"),
        summary=summary,
        name=f"{path}_queue",
    )


_lifecycle("open", "Open a closed queue", with_reason=False)
_lifecycle("pause", "Pause calling (people can still join)", with_reason=True)
_lifecycle("resume", "Resume calling", with_reason=False)
_lifecycle("close", "Close the queue to newcomers (those waiting are still served)", True)


@router.post(
    "/{queue_id}/tickets",
    status_code=201,
    response_model=CommandOut,
    responses=problem_responses(
        *_ON_QUEUE, "queue-closed", "queue-full", "outside-hours", "malformed-request"
    ),
    summary="Take a ticket (enqueue)",
)
async def enqueue(
    queue_id: QueueId,
    request: Request,
    svc: ServicesDep,
    who: PrincipalDep,
    body: Annotated[EnqueueIn | None, Body()] = None,
    idempotency_key: IdempotencyKeyHeader = None,
    correlation: CorrelationHeader = None,
) -> JSONResponse:
    who.require("tickets:enqueue")
    body = body or EnqueueIn()
    if body.allow_outside_hours and not who.may("tickets:operate"):
        raise ProblemError("forbidden", "only staff and admin keys may enqueue outside hours")
    ticket_id = str(uuid.uuid4())
    command = EnqueueTicket(
        ticket_id=ticket_id,
        priority=body.priority,
        service_type=body.service_type,
        channel=body.channel,
        contact=contact(body.contact),
        metadata=dict(body.metadata),
        language=body.language,
        allow_outside_hours=body.allow_outside_hours,
    )
    secret = svc.settings.token_secret

    def respond(outcome: Outcome) -> tuple[int, dict[str, Any]]:
        return 201, command_out(outcome, ticket_id=ticket_id, token_secret=secret)

    answer = await run_queue_command(
        svc, who, request, queue_id=str(queue_id), command=command, body=body,
        idempotency_key=idempotency_key, correlation=correlation, respond=respond,
    )
    return answer.response(location=f"/v1/tickets/{answer.body['ticket']['ticket_id']}")


@router.post(
    "/{queue_id}/call-next",
    response_model=CommandOut,
    responses=problem_responses(*_ON_QUEUE, "queue-empty", "queue-paused", "malformed-request"),
    summary="Call the next person to a counter, in the queue's policy order",
)
async def call_next(
    queue_id: QueueId,
    body: CallNextIn,
    request: Request,
    svc: ServicesDep,
    who: PrincipalDep,
    idempotency_key: IdempotencyKeyHeader = None,
    correlation: CorrelationHeader = None,
) -> JSONResponse:
    who.require("tickets:operate")
    command = CallNext(
        counter=body.counter,
        service_types=tuple(body.service_types) if body.service_types else None,
    )

    def respond(outcome: Outcome) -> tuple[int, dict[str, Any]]:
        called = outcome.records[0].event
        assert isinstance(called, TicketCalled)
        return 200, command_out(outcome, ticket_id=called.ticket_id)

    answer = await run_queue_command(
        svc, who, request, queue_id=str(queue_id), command=command, body=body,
        idempotency_key=idempotency_key, correlation=correlation, respond=respond,
    )
    return answer.response()
