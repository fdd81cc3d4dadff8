"""Commands on one ticket: call out of order, recall, start, complete, no-show, return, cancel,
change priority, transfer. The service finds the queue that holds the ticket now."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from command_api.execution import CallerDep, TicketCallerDep, TicketId, answer
from command_api.models import CallTicketIn, CancelIn, CommandOut, EmptyBody, PriorityIn, TransferIn
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
from domain.events import CancelledBy
from http_api.auth import permission
from http_api.problems import problem_responses

router = APIRouter(prefix="/v1/tickets", tags=["ticket commands"])
_ON_TICKET = (
    "forbidden",
    "not-found",
    "invalid-transition",
    "version-conflict",
    "rule-violated",
)


def _route(
    path: str, summary: str, *extra: str, access: dict[str, Any] | None = None
) -> Callable[[Callable[..., object]], object]:
    return router.post(
        f"/{{ticket_id}}/{path}",
        response_model=CommandOut,
        responses=problem_responses(*_ON_TICKET, *extra, "malformed-request"),
        summary=summary,
        name=f"ticket_{path.replace('-', '_')}",
        openapi_extra=access or permission("tickets:operate"),
    )


def _without_fields(
    path: str, summary: str, make: Callable[[str], QueueCommand], *extra: str
) -> None:
    """A staff command that needs nothing but the ticket: no body, `{}` or `null`."""

    async def handle(
        ticket_id: TicketId, caller: CallerDep, body: Annotated[EmptyBody | None, Body()] = None
    ) -> JSONResponse:
        return answer(await caller.execute(make(str(ticket_id)), body=body))

    _route(path, summary, *extra)(handle)


_without_fields("recall", "Call the same ticket again", lambda tid: RecallTicket(ticket_id=tid))
_without_fields("start", "Start serving the called ticket", lambda tid: StartService(ticket_id=tid))
_without_fields("complete", "Finish serving", lambda tid: CompleteService(ticket_id=tid))
_without_fields("no-show", "The called person did not come", lambda tid: MarkNoShow(ticket_id=tid))
_without_fields(
    "return",
    "A no-show came back within the grace period",
    lambda tid: ReturnTicket(ticket_id=tid),
    "grace-expired",
)


@_route(
    "call",
    "Call this ticket out of order (staff override, with a reason)",
    "queue-paused",
    "counter-busy",
)
async def call(ticket_id: TicketId, body: CallTicketIn, caller: CallerDep) -> JSONResponse:
    """A busy counter is treated as by call-next: the queue's `busy_counter_policy`."""
    command = CallTicket(ticket_id=str(ticket_id), counter=body.counter, reason=body.reason)
    return answer(await caller.execute(command, body=body))


@_route("priority", "Change the ticket's priority class (with a reason)")
async def priority(ticket_id: TicketId, body: PriorityIn, caller: CallerDep) -> JSONResponse:
    command = ChangePriority(ticket_id=str(ticket_id), priority=body.priority, reason=body.reason)
    return answer(await caller.execute(command, body=body))


@_route(
    "cancel",
    "Cancel a ticket (the customer with its token, the kiosk, or staff)",
    access=permission("ticket-token", bearer="tickets:enqueue"),
)
async def cancel(
    ticket_id: TicketId, caller: TicketCallerDep, body: Annotated[CancelIn | None, Body()] = None
) -> JSONResponse:
    """The customer cancels their own place with the ticket's token (`X-Ticket-Token`); a kiosk
    or staff with a key of the ticket's organisation."""
    by: CancelledBy = "staff" if caller.who.may("tickets:operate") else "customer"
    command = CancelTicket(ticket_id=str(ticket_id), by=by, reason=body.reason if body else None)
    return answer(await caller.execute(command, body=body))


@_route(
    "transfer",
    "Move the ticket to another queue of the same tenant (answers both queues' versions)",
    "queue-closed",
    "queue-full",
)
async def transfer(ticket_id: TicketId, body: TransferIn, caller: CallerDep) -> JSONResponse:
    command = TransferTicket(
        ticket_id=str(ticket_id),
        to_queue_id=str(body.to_queue_id),
        service_type=body.service_type,
        reason=body.reason,
    )
    return answer(await caller.execute(command, body=body))
