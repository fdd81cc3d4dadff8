"""Commands on one ticket: call out of order, recall, start, complete, no-show, return, cancel,
change priority, transfer."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from command_api.deps import (
    CorrelationHeader,
    IdempotencyKeyHeader,
    PrincipalDep,
    Services,
    ServicesDep,
    command_context,
    idempotent,
    run_queue_command,
)
from command_api.handlers import Idempotency, Outcome
from command_api.mapping import command_out
from command_api.models import CallTicketIn, CancelIn, CommandOut, PriorityIn, TransferIn
from command_api.problems import problem_responses
from domain.commands import (
    CallTicket,
    CancelTicket,
    ChangePriority,
    CompleteService,
    MarkNoShow,
    QueueCommand,
    RecallTicket,
    ReturnTicket,
    StartService,
    TransferTicket,
)
from domain.errors import Rejected
from domain.events import CancelledBy

router = APIRouter(prefix="/v1/tickets", tags=["ticket commands"])
TicketId = Annotated[uuid.UUID, Path(description="The ticket's id")]
_ON_TICKET = ("forbidden", "not-found", "invalid-transition", "version-conflict")


async def _locate(svc: Services, tenant_id: str, ticket_id: str) -> str:
    """The queue that holds the ticket now; another tenant's ticket does not exist for you."""
    found = await svc.store.ticket_location(ticket_id)
    if found is None or found[0] != tenant_id:
        raise Rejected("not-found", f"ticket {ticket_id} not found")
    return found[1]


def _ticket_command(
    path: str,
    summary: str,
    body_model: type[BaseModel] | None,
    make: Callable[[str, Any], QueueCommand],
    extra: tuple[str, ...] = (),
) -> None:
    async def handle(
        *,
        ticket_id: TicketId,
        request: Request,
        svc: ServicesDep,
        who: PrincipalDep,
        body: Any = None,
        idempotency_key: IdempotencyKeyHeader = None,
        correlation: CorrelationHeader = None,
    ) -> JSONResponse:
        who.require("tickets:operate")
        tid = str(ticket_id)
        queue_id = await _locate(svc, who.tenant_id, tid)

        def respond(outcome: Outcome) -> tuple[int, dict[str, Any]]:
            return 200, command_out(outcome, ticket_id=tid)

        answer = await run_queue_command(
            svc, who, request, queue_id=queue_id, command=make(tid, body), body=body,
            idempotency_key=idempotency_key, correlation=correlation, respond=respond,
        )
        return answer.response()

    # The body's type differs per route: give it to the signature FastAPI reads, so that it is
    # validated and OpenAPI documents each route's own body.
    signature = inspect.signature(handle)
    if body_model is None:
        body = signature.parameters["body"].replace(
            annotation=Annotated[None, Body(include_in_schema=False)]
        )
    else:
        body = signature.parameters["body"].replace(
            annotation=Annotated[body_model, Body()], default=inspect.Parameter.empty
        )
    handle.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[body if p.name == "body" else p for p in signature.parameters.values()]
    )
    router.add_api_route(
        f"/{{ticket_id}}/{path}",
        handle,
        methods=["POST"],
        response_model=CommandOut,
        responses=problem_responses(*_ON_TICKET, *extra, "malformed-request"),
        summary=summary,
        name=f"ticket_{path.replace('-', '_')}",
    )


_ticket_command(
    "call", "Call this ticket out of order (staff override, with a reason)", CallTicketIn,
    lambda tid, b: CallTicket(ticket_id=tid, counter=b.counter, reason=b.reason),
    ("queue-paused",),
)
_ticket_command("recall", "Call the same ticket again", None,
                lambda tid, _: RecallTicket(ticket_id=tid))
_ticket_command("start", "Start serving the called ticket", None,
                lambda tid, _: StartService(ticket_id=tid))
_ticket_command("complete", "Finish serving", None,
                lambda tid, _: CompleteService(ticket_id=tid))
_ticket_command("no-show", "The called person did not come", None,
                lambda tid, _: MarkNoShow(ticket_id=tid))
_ticket_command("return", "A no-show came back within the grace period", None,
                lambda tid, _: ReturnTicket(ticket_id=tid), ("grace-expired",))
_ticket_command(
    "priority", "Change the ticket's priority class (with a reason)", PriorityIn,
    lambda tid, b: ChangePriority(ticket_id=tid, priority=b.priority, reason=b.reason),
)


@router.post(
    "/{ticket_id}/cancel",
    response_model=CommandOut,
    responses=problem_responses(*_ON_TICKET, "malformed-request"),
    summary="Cancel a ticket (staff, or the customer's kiosk)",
)
async def cancel(
    ticket_id: TicketId,
    request: Request,
    svc: ServicesDep,
    who: PrincipalDep,
    body: Annotated[CancelIn | None, Body()] = None,
    idempotency_key: IdempotencyKeyHeader = None,
    correlation: CorrelationHeader = None,
) -> JSONResponse:
    who.require("tickets:enqueue")
    tid = str(ticket_id)
    queue_id = await _locate(svc, who.tenant_id, tid)
    by: CancelledBy = "staff" if who.may("tickets:operate") else "customer"
    command = CancelTicket(ticket_id=tid, by=by, reason=body.reason if body else None)

    def respond(outcome: Outcome) -> tuple[int, dict[str, Any]]:
        return 200, command_out(outcome, ticket_id=tid)

    answer = await run_queue_command(
        svc, who, request, queue_id=queue_id, command=command, body=body,
        idempotency_key=idempotency_key, correlation=correlation, respond=respond,
    )
    return answer.response()


@router.post(
    "/{ticket_id}/transfer",
    response_model=CommandOut,
    responses=problem_responses(*_ON_TICKET, "queue-closed", "queue-full", "malformed-request"),
    summary="Move the ticket to another queue of the same tenant",
)
async def transfer(
    ticket_id: TicketId,
    body: TransferIn,
    request: Request,
    svc: ServicesDep,
    who: PrincipalDep,
    idempotency_key: IdempotencyKeyHeader = None,
    correlation: CorrelationHeader = None,
) -> JSONResponse:
    who.require("tickets:operate")
    tid = str(ticket_id)
    source_id = await _locate(svc, who.tenant_id, tid)
    command = TransferTicket(
        ticket_id=tid,
        to_queue_id=str(body.to_queue_id),
        service_type=body.service_type,
        reason=body.reason,
    )

    def respond(outcome: Outcome) -> tuple[int, dict[str, Any]]:
        return 200, command_out(outcome)

    async def run(idem: Idempotency | None) -> tuple[int, dict[str, Any]]:
        return await svc.queues.transfer(
            tenant_id=who.tenant_id,
            source_id=source_id,
            command=command,
            context=command_context(svc, who, correlation),
            respond=respond,
            idempotency=idem,
        )

    answer = await idempotent(svc, who, request, idempotency_key, body, run)
    return answer.response()
