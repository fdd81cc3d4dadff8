"""Appointments over HTTP: book a slot, move it, cancel it, check in (domain/appointments.py).

A booking's id is also its ticket's once checked in, and its token (`X-Ticket-Token`) opens both:
the person moves, cancels or checks in their own booking with it; staff and kiosks with a key.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import JSONResponse

from command_api.execution import (
    Caller,
    CallerDep,
    CorrelationHeader,
    IdempotencyKeyHeader,
    TicketTokenHeader,
    answer,
    holder_caller,
)
from command_api.fields import StrictModel
from command_api.mapping import command_out, contact
from command_api.models import CommandOut, EmptyBody, refuse_push_endpoints
from command_api.models_appointments import CancelAppointmentIn, RescheduleIn
from command_api.models_bookings import AppointmentIn, BookedOut
from command_api.personal import REFUSED, drop_unused, seal_details
from command_api.subscribing import confirming, refuse_busy_addresses
from core.tokens import ticket_token
from domain.commands import (
    BookAppointment,
    CancelAppointment,
    CheckInAppointment,
    RescheduleAppointment,
)
from domain.events import CancelledBy
from http_api.auth import permission
from http_api.deps import BearerKey, ServicesDep
from http_api.problems import ProblemError, problem_responses
from notifications.confirmation import Subscribed, subscribe_and_confirm
from notifications.store import reminders
from service_layer.outcome import Outcome

router = APIRouter(tags=["appointments"])
QueueId = Annotated[uuid.UUID, Path(description="The queue's id")]
AppointmentId = Annotated[uuid.UUID, Path(description="The booking's id")]
_ON_BOOKING = ("forbidden", "not-found", "invalid-transition", "rule-violated", "malformed-request")
_BY_HOLDER = permission("ticket-token", bearer="tickets:enqueue")


@router.post(
    "/v1/queues/{queue_id}/appointments",
    status_code=201,
    response_model=BookedOut,
    responses=problem_responses(
        "forbidden", "not-found", "rule-violated", "slot-full", "outside-hours", "malformed-request"
    ),
    summary="Book a slot (the answer carries the booking's id and token)",
    openapi_extra=permission("tickets:enqueue"),
)
async def book(queue_id: QueueId, body: AppointmentIn, caller: CallerDep) -> JSONResponse:
    """With an Idempotency-Key the booking's id derives from it, so a retry answers the same
    booking (and token) as the first request."""
    appointment_id = _booking_id(caller)
    if body.notify:
        refuse_push_endpoints(body.notify, caller.request.app.state.notifications.guard)
        wishes = [w.wish() for w in body.notify]
        await refuse_busy_addresses(_pool(caller), caller.who.tenant_id, wishes, appointment_id)
    personal, made = await seal_details(
        caller, str(queue_id), appointment_id, contact(body.contact)
    )
    command = BookAppointment(
        appointment_id=appointment_id,
        slot_at=body.slot_at,
        service_type=body.service_type,
        priority=body.priority,
        channel=body.channel,
        personal=personal,
        language=body.language,
    )
    try:
        outcome = await caller.execute(command, queue_id=str(queue_id), body=body)
    except REFUSED:
        await drop_unused(caller, made, appointment_id)
        raise
    extra: dict[str, object] = {
        "appointment_id": appointment_id,
        "slot_at": body.slot_at.isoformat(),
        "token": ticket_token(caller.settings.token_secret, appointment_id),
    }
    if body.notify:
        extra["subscriptions"] = await _remind(caller, str(queue_id), appointment_id, body)
    headers = {"Location": f"/v1/appointments/{appointment_id}"}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse({**command_out(outcome), **extra}, status_code=201, headers=headers)


async def _remind(caller: Caller, queue_id: str, booking: str, body: AppointmentIn) -> list[str]:
    """The booking's subscriptions, each confirmed at once with the booking's date and time and
    given its reminder (a retry makes the same again, and no second confirmation)."""
    pool = _pool(caller)
    tenant = caller.who.tenant_id
    config = (await caller.svc.queues.load(tenant, queue_id)).config
    booked = Subscribed(
        tenant, queue_id, booking, config.name, slot_at=body.slot_at, time_zone=config.timezone
    )
    made = await subscribe_and_confirm(
        confirming(caller.svc, pool),
        booked,
        [wish.wish() for wish in body.notify or ()],
    )
    ids = [s.subscription_id for s in made]
    await reminders.plan(
        pool,
        tenant,
        queue_id,
        booking,
        ids,
        body.slot_at,
        body.remind_minutes,
        time_zone=config.timezone,
        queue_name=config.name,
    )
    return ids


_BOOKINGS = uuid.UUID("5d0f3b7e-8a51-4c1f-9f7e-0b6c2a4d9e13")


def _booking_id(caller: Caller) -> str:
    if caller.idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_BOOKINGS, f"{caller.who.tenant_id}:{caller.idempotency_key}"))


async def _holder(
    request: Request,
    appointment_id: AppointmentId,
    svc: ServicesDep,
    bearer: BearerKey,
    ticket_token: TicketTokenHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
    correlation: CorrelationHeader = None,
) -> Caller:
    """Staff or a kiosk with a key, or the person with the booking's own token."""
    return await holder_caller(
        request, str(appointment_id), svc, bearer, ticket_token, idempotency_key, correlation
    )


async def _on_booking(
    caller: Caller,
    command: RescheduleAppointment | CancelAppointment | CheckInAppointment,
    body: StrictModel | None,
) -> Outcome:
    """The command, given to the queue that holds the booking (another tenant's: a 404)."""
    found = await caller.svc.store.ticket_location(command.appointment_id)
    if found is None or found[0] != caller.who.tenant_id:
        raise ProblemError("not-found", f"appointment {command.appointment_id} not found")
    return await caller.execute(command, queue_id=found[1], body=body)


def _pool(caller: Caller) -> Any:
    return caller.request.app.state.notifications.pool


HolderDep = Annotated[Caller, Depends(_holder)]


@router.post(
    "/v1/appointments/{appointment_id}/reschedule",
    response_model=CommandOut,
    responses=problem_responses(*_ON_BOOKING, "slot-full", "outside-hours"),
    summary="Move a booking to another slot (its token, or staff)",
    openapi_extra=_BY_HOLDER,
)
async def reschedule(
    appointment_id: AppointmentId, body: RescheduleIn, caller: HolderDep
) -> JSONResponse:
    command = RescheduleAppointment(appointment_id=str(appointment_id), slot_at=body.slot_at)
    outcome = await _on_booking(caller, command, body)
    await reminders.move(_pool(caller), caller.who.tenant_id, command.appointment_id, body.slot_at)
    return answer(outcome)


@router.post(
    "/v1/appointments/{appointment_id}/cancel",
    response_model=CommandOut,
    responses=problem_responses(*_ON_BOOKING),
    summary="Cancel a booking (its token, or staff)",
    openapi_extra=_BY_HOLDER,
)
async def cancel(
    appointment_id: AppointmentId,
    caller: HolderDep,
    body: Annotated[CancelAppointmentIn | None, Body()] = None,
) -> JSONResponse:
    by: CancelledBy = "staff" if caller.who.may("tickets:enqueue") else "customer"
    command = CancelAppointment(
        appointment_id=str(appointment_id), by=by, reason=body.reason if body else None
    )
    outcome = await _on_booking(caller, command, body)
    await reminders.drop(_pool(caller), caller.who.tenant_id, command.appointment_id)
    return answer(outcome)


@router.post(
    "/v1/appointments/{appointment_id}/check-in",
    response_model=CommandOut,
    responses=problem_responses(*_ON_BOOKING, "queue-closed", "grace-expired"),
    summary="The person is here: their ticket joins the line at their slot less the lead",
    openapi_extra=_BY_HOLDER,
)
async def check_in(
    appointment_id: AppointmentId,
    caller: HolderDep,
    body: Annotated[EmptyBody | None, Body()] = None,
) -> JSONResponse:
    """Answers the ticket (its id is the booking's; the booking's token opens its page)."""
    booking = str(appointment_id)
    command = CheckInAppointment(appointment_id=booking, ticket_id=booking)
    outcome = await _on_booking(caller, command, body)
    return answer(outcome, token_secret=caller.settings.token_secret)
