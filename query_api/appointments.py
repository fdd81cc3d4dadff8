"""Appointments to read: a queue's free slots, its bookings, one booking (its token or a key),
and a site's bookings as an iCalendar feed.

These read the queue as the write side folds it (the service layer's state), not a read model:
a slot shown free is the one a booking would take, unless somebody takes it in between. None of
them shows a person's details (docs/privacy.md): ids, times, services and statuses only.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection

from core.tokens import token_matches
from domain.appointments import missed, slots
from domain.errors import Rejected
from domain.state import Appointment, QueueState
from http_api.auth import declared_permission, permission, unauthorized
from http_api.deps import AccessToken, BearerKey, ReaderDep, ReadModelsDep, ServicesDep, reader_of
from http_api.formats import Moment
from http_api.problems import ProblemError, problem_responses
from query_api.calendar import calendar
from query_api.deps import QueueId

router = APIRouter(tags=["appointments"])
MAX_RANGE = timedelta(days=31)
From = Annotated[Moment | None, Query(alias="from", description="Start (ISO 8601); default: now")]
To = Annotated[
    Moment | None,
    Query(alias="to", description="End, exclusive; default: 7 days after the start, at most 31"),
]
AppointmentId = Annotated[uuid.UUID, Path(description="The booking's id")]


class SlotOut(BaseModel):
    slot_at: datetime
    free: int


class SlotsOut(BaseModel):
    queue_id: str
    slot_minutes: int
    slots: list[SlotOut]


class BookingOut(BaseModel):
    appointment_id: str
    queue_id: str
    slot_at: datetime
    status: str  # booked, checked_in, cancelled, missed
    service_type: str | None
    priority: str
    ticket_id: str | None
    language: str | None = Field(
        default=None,
        description="The language the person booked in (`en`, `fr`, `de`, `es`), if they gave "
        "one: their messages' language, and their booking page's",
    )


class BookingsOut(BaseModel):
    appointments: list[BookingOut]


def _window(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    begin = start or now
    try:
        limit = begin + MAX_RANGE
        finish = min(end or begin + timedelta(days=7), limit)
    except OverflowError:
        return begin, begin  # beyond the calendar: nothing
    return begin, finish


async def _queue(svc: Any, tenant_id: str, queue_id: str) -> QueueState:
    try:
        state: QueueState = await svc.queues.load(tenant_id, queue_id)
    except Rejected:
        raise ProblemError("not-found", f"queue {queue_id} not found") from None
    return state


def booking_out(state: QueueState, a: Appointment, now: datetime) -> dict[str, Any]:
    return {
        "appointment_id": a.appointment_id,
        "queue_id": state.queue_id,
        "slot_at": a.slot_at,
        "status": "missed" if missed(state, a, now) else a.status,
        "service_type": a.service_type,
        "priority": a.priority,
        "ticket_id": a.ticket_id,
        "language": a.language,
    }


@router.get(
    "/v1/queues/{queue_id}/slots",
    response_model=SlotsOut,
    responses=problem_responses("not-found", "rule-violated"),
    summary="The queue's bookable slots and how many bookings each still takes",
    openapi_extra=permission("read"),
)
async def free_slots(
    queue_id: QueueId, who: ReaderDep, svc: ServicesDep, start: From = None, end: To = None
) -> dict[str, Any]:
    now = svc.queues.now()
    state = await _queue(svc, who.tenant_id, str(queue_id))
    settings = state.config.appointments
    if settings is None:
        raise ProblemError("rule-violated", f"queue {queue_id} takes no appointments")
    begin, finish = _window(start, end, now)
    if finish <= max(begin, now):  # over, or beyond the calendar: no slot
        return {"queue_id": str(queue_id), "slot_minutes": settings.slot_minutes, "slots": []}
    found = [{"slot_at": s, "free": free} for s, free in slots(state, begin, finish, now)]
    return {"queue_id": str(queue_id), "slot_minutes": settings.slot_minutes, "slots": found}


@router.get(
    "/v1/queues/{queue_id}/appointments",
    response_model=BookingsOut,
    responses=problem_responses("not-found"),
    summary="The queue's bookings with slots in a range (no personal details)",
    openapi_extra=permission("read"),
)
async def bookings(
    queue_id: QueueId, who: ReaderDep, svc: ServicesDep, start: From = None, end: To = None
) -> dict[str, Any]:
    now = svc.queues.now()
    state = await _queue(svc, who.tenant_id, str(queue_id))
    begin, finish = _window(start or now - timedelta(days=1), end, now)
    found = sorted(
        (a for a in state.appointments.values() if begin <= a.slot_at < finish),
        key=lambda a: (a.slot_at, a.booked_at, a.appointment_id),
    )
    return {"appointments": [booking_out(state, a, now) for a in found]}


async def _holder_tenant(
    conn: HTTPConnection,
    appointment_id: AppointmentId,
    svc: ServicesDep,
    bearer: BearerKey,
    access_token: AccessToken = None,
    token: Annotated[str | None, Header(alias="X-Ticket-Token")] = None,
) -> tuple[str, str]:
    """(tenant, queue) of the booking, if the caller may read it: a key, or its own token."""
    if bearer or access_token:
        needs = declared_permission(conn.scope, "x-permission-bearer") or "read"
        tenant = (await reader_of(conn, svc, bearer, access_token, needs)).tenant_id
    elif token is None:
        raise unauthorized("send an API key or the booking's token")
    elif not token_matches(svc.settings.token_secret, str(appointment_id), token):
        raise unauthorized("this token does not open this booking")
    else:
        tenant = None
    found = await svc.store.ticket_location(str(appointment_id))
    if found is None or (tenant is not None and found[0] != tenant):
        raise ProblemError("not-found", f"appointment {appointment_id} not found")
    return found


@router.get(
    "/v1/appointments/{appointment_id}",
    response_model=BookingOut,
    responses=problem_responses("not-found"),
    summary="One booking: its slot and status (its token, or a key)",
    openapi_extra=permission("ticket-token", bearer="read"),
)
async def booking(
    appointment_id: AppointmentId,
    svc: ServicesDep,
    where: Annotated[tuple[str, str], Depends(_holder_tenant)],
) -> dict[str, Any]:
    state = await _queue(svc, where[0], where[1])
    found = state.appointments.get(str(appointment_id))
    if found is None:
        raise ProblemError("not-found", f"appointment {appointment_id} not found")
    return booking_out(state, found, svc.queues.now())


@router.get(
    "/v1/sites/{site}/appointments.ics",
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {"schema": {"type": "string"}}}},
        **problem_responses("not-found"),
    },
    summary="A site's bookings as an iCalendar feed (a calendar app may send ?access_token=)",
    openapi_extra=permission("read"),
)
async def site_calendar(
    site: Annotated[str, Path(min_length=1, max_length=200)],
    who: ReaderDep,
    svc: ServicesDep,
    models: ReadModelsDep,
) -> Response:
    now = svc.queues.now()
    queues = [q for q in await models.queues(who.tenant_id) if q.view.get("site") == site]
    if not queues:
        raise ProblemError("not-found", f"no queue is at site {site!r}")
    events = []
    for queue in queues:
        state = await _queue(svc, who.tenant_id, queue.queue_id)
        minutes = state.config.appointments.slot_minutes if state.config.appointments else 15
        for a in state.appointments.values():
            if a.status != "cancelled" and a.slot_at >= now - timedelta(days=1):
                events.append((state.config.name, minutes, booking_out(state, a, now)))
    body = calendar(f"{site} appointments", events, now.astimezone(UTC))
    return Response(body, media_type="text/calendar; charset=utf-8")
