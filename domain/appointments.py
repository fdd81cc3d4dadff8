"""Appointments: bookable slots, and how a booking joins the live line (the rules of
`AppointmentSettings`, in domain/config.py).

A slot is `slot_minutes` long and starts on a multiple of it from local midnight, inside the
queue's opening hours (all of it), after now and within `horizon_days`; it takes `per_slot`
bookings. A booking is checked in from `early_minutes` before its slot until `grace_minutes`
after it starts; later it is missed (a no-show: it stays `booked`, and nothing can be done with
it but look). Checked in, its ticket stands in line at `slot_at - lead_minutes` in its class: see
AppointmentSettings for the fairness this gives both sides, and tests/unit/domain for the proof.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

from domain.commands import (
    BookAppointment,
    CancelAppointment,
    CheckInAppointment,
    RescheduleAppointment,
)
from domain.config import AppointmentSettings
from domain.errors import Rejected
from domain.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentRescheduled,
    AppointmentTransferredIn,
    AppointmentTransferredOut,
    QueueEvent,
)
from domain.guards import invalid, joining_class, next_number
from domain.hours import is_open_at, local_time
from domain.policy import carried_priority
from domain.state import Appointment, QueueState

APPOINTMENT_METADATA = "appointment"  # a checked-in ticket's metadata: its booking's id
KEPT_FOR = timedelta(days=1)  # finished bookings are forgotten a day after their slot


def settings_of(state: QueueState) -> AppointmentSettings:
    settings = state.config.appointments
    if settings is None:
        raise invalid(f"queue {state.queue_id!r} takes no appointments")
    return settings


def holding(state: QueueState, but: str | None = None) -> Counter[datetime]:
    """Bookings per slot start (booked or checked in), `but` one left out."""
    return Counter(
        a.slot_at
        for a in state.appointments.values()
        if a.status in ("booked", "checked_in") and a.appointment_id != but
    )


def moving_bookings(
    source: QueueState,
    target: QueueState,
    service_types: frozenset[str] | None,
    now: datetime,
) -> tuple[list[QueueEvent], list[QueueEvent]]:
    """The bookings still to come that go with a merge or split (those of `service_types`, or
    all): each that the receiving queue can take at its slot (it takes bookings, the slot is one
    of its own, inside its hours and not full) moves, keeping its id, token and slot; the others
    stay where they are (their queue may be closed: staff book them again)."""
    if target.config.appointments is None or source.config.appointments is None:
        return [], []
    grace = timedelta(minutes=source.config.appointments.grace_minutes)
    held = holding(target)
    out: list[QueueEvent] = []
    into: list[QueueEvent] = []
    for a in sorted(source.appointments.values(), key=lambda a: (a.slot_at, a.booked_at)):
        if a.status != "booked" or a.slot_at + grace < now:
            continue
        if service_types is not None and a.service_type not in service_types:
            continue
        if a.service_type is not None and a.service_type not in target.config.service_types:
            continue
        try:
            check_slot(target, a.slot_at, now, held=held)
        except Rejected:
            continue
        held[a.slot_at] += 1
        out.append(
            AppointmentTransferredOut(
                appointment_id=a.appointment_id, to_queue_id=target.queue_id, at=now
            )
        )
        into.append(
            AppointmentTransferredIn(
                appointment_id=a.appointment_id,
                from_queue_id=source.queue_id,
                slot_at=a.slot_at,
                service_type=a.service_type,
                priority=carried_priority(target.config, a.priority),
                channel=a.channel,
                language=a.language,
                personal=a.personal,
                at=now,
            )
        )
    return out, into


def check_slot(
    state: QueueState,
    slot_at: datetime,
    now: datetime,
    but: str | None = None,
    held: Counter[datetime] | None = None,
) -> None:
    """Refuse a slot that is not one, is past, too far, outside the hours, or full."""
    settings = settings_of(state)
    if slot_at.tzinfo is None or slot_at.utcoffset() is None:
        raise invalid("a slot's time must carry a time zone offset")
    local = local_time(state.config, slot_at)
    minute = local.hour * 60 + local.minute
    if local.second or local.microsecond or minute % settings.slot_minutes:
        raise invalid(
            f"slots start every {settings.slot_minutes} minutes from midnight "
            f"({state.config.timezone}); {local.isoformat()} is not one"
        )
    if slot_at <= now:
        raise invalid(f"slot {slot_at.isoformat()} has started already")
    if slot_at > now + timedelta(days=settings.horizon_days):
        raise invalid(f"slots are booked at most {settings.horizon_days} days ahead")
    end = slot_at + timedelta(minutes=settings.slot_minutes) - timedelta(microseconds=1)
    if not (is_open_at(state.config, slot_at) and is_open_at(state.config, end)):
        raise Rejected("outside-hours", f"slot {local.isoformat()} is outside the opening hours")
    taken = (held if held is not None else holding(state, but))[slot_at]
    if taken >= settings.per_slot:
        raise Rejected(
            "slot-full",
            f"slot {local.isoformat()} is fully booked",
            facts={"slot_at": str(slot_at)},
        )


def slots(
    state: QueueState, start: datetime, end: datetime, now: datetime
) -> Iterator[tuple[datetime, int]]:
    """(slot start, bookings still free) for every bookable slot in [start, end)."""
    settings = settings_of(state)
    held = holding(state)
    step = timedelta(minutes=settings.slot_minutes)
    local = local_time(state.config, max(start, now))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    steps = -(-int((local - midnight).total_seconds()) // (settings.slot_minutes * 60))
    slot = midnight + steps * step
    while slot < end:
        try:
            check_slot(state, slot, now, held=held)
        except Rejected as refused:
            if refused.code == "slot-full":
                yield slot, 0
        else:
            yield slot, settings.per_slot - held[slot]
        slot = local_time(state.config, slot + step)


def get_appointment(state: QueueState, appointment_id: str) -> Appointment:
    found = state.appointments.get(appointment_id)
    if found is None:
        raise Rejected(
            "not-found", f"no appointment {appointment_id!r} in queue {state.queue_id!r}"
        )
    return found


def _still_booked(appointment: Appointment, action: str) -> None:
    if appointment.status != "booked":
        raise Rejected(
            "invalid-transition",
            f"appointment {appointment.appointment_id!r} is {appointment.status.replace('_', ' ')}"
            f"; only a booked one can be {action}",
        )


def book(state: QueueState, cmd: BookAppointment, now: datetime) -> list[QueueEvent]:
    config = state.config
    settings_of(state)
    if not cmd.appointment_id or cmd.appointment_id in state.appointments:
        raise Rejected("already-exists", f"appointment {cmd.appointment_id!r} exists already")
    priority = joining_class(config, cmd.priority, cmd.service_type)
    check_slot(state, cmd.slot_at, now)
    return [
        AppointmentBooked(
            appointment_id=cmd.appointment_id,
            slot_at=cmd.slot_at,
            service_type=cmd.service_type,
            priority=priority,
            channel=cmd.channel,
            language=cmd.language,
            personal=cmd.personal,
            at=now,
        )
    ]


def reschedule(state: QueueState, cmd: RescheduleAppointment, now: datetime) -> list[QueueEvent]:
    appointment = get_appointment(state, cmd.appointment_id)
    _still_booked(appointment, "moved")
    check_slot(state, cmd.slot_at, now, but=appointment.appointment_id)
    return [AppointmentRescheduled(appointment_id=cmd.appointment_id, slot_at=cmd.slot_at, at=now)]


def cancel(state: QueueState, cmd: CancelAppointment, now: datetime) -> list[QueueEvent]:
    appointment = get_appointment(state, cmd.appointment_id)
    _still_booked(appointment, "cancelled")
    return [
        AppointmentCancelled(
            appointment_id=cmd.appointment_id, by=cmd.by, reason=cmd.reason, at=now
        )
    ]


def check_in(state: QueueState, cmd: CheckInAppointment, now: datetime) -> list[QueueEvent]:
    settings = settings_of(state)
    appointment = get_appointment(state, cmd.appointment_id)
    _still_booked(appointment, "checked in")
    if state.status == "closed":
        raise Rejected("queue-closed", f"queue {state.queue_id!r} is closed")
    if not cmd.ticket_id or cmd.ticket_id in state.tickets:
        raise Rejected("already-exists", f"ticket {cmd.ticket_id!r} exists already")
    opens = appointment.slot_at - timedelta(minutes=settings.early_minutes)
    closes = appointment.slot_at + timedelta(minutes=settings.grace_minutes)
    if now < opens:
        raise Rejected(
            "validation",
            f"check-in opens at {opens.isoformat()}, {settings.early_minutes} minutes before the slot",
            facts={"opens_at": opens.isoformat()},
        )
    if now > closes:
        raise Rejected(
            "grace-expired",
            f"check-in closed at {closes.isoformat()}: the appointment was missed",
            facts={"closed_at": closes.isoformat()},
        )
    number, daily = next_number(state, now)
    return [
        AppointmentCheckedIn(
            appointment_id=appointment.appointment_id,
            ticket_id=cmd.ticket_id,
            number=number,
            daily_number=daily,
            seq=state.next_seq,
            priority=appointment.priority,
            service_type=appointment.service_type,
            channel=appointment.channel,
            language=appointment.language,
            personal=appointment.personal,
            slot_at=appointment.slot_at,
            order_at=appointment.slot_at - timedelta(minutes=settings.lead_minutes),
            at=now,
        )
    ]


def missed(state: QueueState, appointment: Appointment, now: datetime) -> bool:
    """Still booked after check-in closed: a no-show."""
    settings = state.config.appointments
    grace = timedelta(minutes=settings.grace_minutes if settings else 0)
    return appointment.status == "booked" and now > appointment.slot_at + grace


# The fold -------------------------------------------------------------------------------------


def _forget_old(state: QueueState, at: datetime) -> None:
    old = [a.appointment_id for a in state.appointments.values() if a.slot_at < at - KEPT_FOR]
    for appointment_id in old:
        del state.appointments[appointment_id]


def booked(state: QueueState, event: AppointmentBooked | AppointmentTransferredIn) -> None:
    """A booking made here, or brought here by a merge, a split or a site's closure."""
    _forget_old(state, event.at)
    state.appointments[event.appointment_id] = Appointment(
        appointment_id=event.appointment_id,
        slot_at=event.slot_at,
        service_type=event.service_type,
        priority=event.priority,
        channel=event.channel,
        language=event.language,
        personal=event.personal,
        booked_at=event.at,
    )


def rescheduled(state: QueueState, event: AppointmentRescheduled) -> None:
    state.appointments[event.appointment_id].slot_at = event.slot_at


def cancelled(state: QueueState, event: AppointmentCancelled) -> None:
    state.appointments[event.appointment_id].status = "cancelled"


def transferred_out(state: QueueState, event: AppointmentTransferredOut) -> None:
    state.appointments[event.appointment_id].status = "transferred"


def checked_in(state: QueueState, event: AppointmentCheckedIn) -> None:
    appointment = state.appointments[event.appointment_id]
    appointment.status = "checked_in"
    appointment.ticket_id = event.ticket_id
