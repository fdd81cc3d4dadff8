"""decide(state, command, now) -> events: the rules. Reads the state, never changes it.

A refused command raises `Rejected` with a stable code. Every command but `PromoteAgedTickets`
yields at least one event when it is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from datetime import datetime, timedelta
from typing import Any

from domain import appointments, breaks
from domain.commands import (
    BookAppointment,
    CallNext,
    CallTicket,
    CancelAppointment,
    CancelTicket,
    ChangePriority,
    ChangeQueueSettings,
    CheckInAppointment,
    CloseQueue,
    CompleteService,
    CreateQueue,
    EndCounterBreak,
    EnqueueTicket,
    MarkNoShow,
    OpenQueue,
    PauseQueue,
    PromoteAgedTickets,
    QueueCommand,
    RecallTicket,
    ReconfigureQueue,
    RescheduleAppointment,
    ResumeQueue,
    ReturnTicket,
    SetCounterBreak,
    StartService,
)
from domain.config import QueueConfig
from domain.counters import free_counter
from domain.errors import Rejected
from domain.events import (
    QueueClosed,
    QueueCreated,
    QueueEvent,
    QueueOpened,
    QueuePaused,
    QueueReconfigured,
    QueueResumed,
    ServiceStarted,
    TicketCalled,
    TicketCancelled,
    TicketEnqueued,
    TicketNoShow,
    TicketPriorityChanged,
    TicketPromoted,
    TicketRecalled,
    TicketReturned,
    TicketServed,
)
from domain.guards import (
    check_clock,
    check_counter,
    get_ticket,
    invalid,
    is_full,
    joining_class,
    next_number,
    require_queue_status,
    require_status,
)
from domain.hours import is_open_at
from domain.policy import aging_target
from domain.state import QueueState, TicketState, next_ticket
from domain.transfer import decide_transfer
from domain.validate import validate_config

__all__ = ["decide", "decide_transfer"]

QUEUE_STATUSES = ("open", "paused", "closed")


def _counter_of(ticket: TicketState) -> str:
    if ticket.counter is None:  # not reachable from events decide produced
        raise Rejected("invalid-transition", f"ticket {ticket.ticket_id!r} is at no counter")
    return ticket.counter


# Queue lifecycle ----------------------------------------------------------------------------


def _create(state: QueueState, cmd: CreateQueue, now: datetime) -> list[QueueEvent]:
    if state.created:
        raise Rejected("already-exists", f"queue {state.queue_id!r} already exists")
    if not cmd.queue_id or not cmd.tenant_id:
        raise invalid("queue id and tenant id are required")
    if state.queue_id and cmd.queue_id != state.queue_id:
        raise invalid(f"command is for queue {cmd.queue_id!r}, state is {state.queue_id!r}")
    if cmd.status not in QUEUE_STATUSES:
        raise invalid(f"status must be one of {QUEUE_STATUSES}, got {cmd.status!r}")
    validate_config(cmd.config)
    return [
        QueueCreated(
            queue_id=cmd.queue_id,
            tenant_id=cmd.tenant_id,
            config=cmd.config,
            status=cmd.status,
            at=now,
        )
    ]


def _reconfigure(state: QueueState, cmd: ReconfigureQueue, now: datetime) -> list[QueueEvent]:
    return _reconfigured(state, cmd.config, now, cmd.reason)


def _change_settings(
    state: QueueState, cmd: ChangeQueueSettings, now: datetime
) -> list[QueueEvent]:
    changes: dict[str, Any] = dict(cmd.changes)
    unknown = sorted(set(changes) - {f.name for f in fields(QueueConfig)})
    if unknown:
        raise invalid(f"no such setting: {', '.join(unknown)}")
    new = replace(state.config, **changes)
    if new == state.config:
        return []  # nothing changes: nothing happened (whatever the reason given)
    return _reconfigured(state, new, now, cmd.reason)


def _reconfigured(
    state: QueueState, new: QueueConfig, now: datetime, reason: str | None
) -> list[QueueEvent]:
    validate_config(new)
    for key in state.waiting:
        ticket = state.tickets[key[3]]
        if ticket.priority not in new.priority_classes:
            raise invalid(f"priority class {ticket.priority!r} is used by waiting tickets")
        if ticket.service_type is not None and ticket.service_type not in new.service_types:
            raise invalid(f"service type {ticket.service_type!r} is used by waiting tickets")
    for counter, ids in state.at_counters.items():
        if ids and counter not in new.counters:
            raise invalid(f"counter {counter!r} has a ticket called or being served")
    return [QueueReconfigured(config=new, at=now, reason=reason)]


def _open(state: QueueState, cmd: OpenQueue, now: datetime) -> list[QueueEvent]:
    require_queue_status(state, ("closed",), "open")
    return [QueueOpened(at=now)]


def _pause(state: QueueState, cmd: PauseQueue, now: datetime) -> list[QueueEvent]:
    require_queue_status(state, ("open",), "pause")
    return [QueuePaused(reason=cmd.reason, at=now)]


def _resume(state: QueueState, cmd: ResumeQueue, now: datetime) -> list[QueueEvent]:
    require_queue_status(state, ("paused",), "resume")
    return [QueueResumed(at=now)]


def _close(state: QueueState, cmd: CloseQueue, now: datetime) -> list[QueueEvent]:
    sent_home: list[QueueEvent] = []
    if cmd.cancel_waiting:  # before the close: nobody still in line hears "still served"
        sent_home = [
            TicketCancelled(ticket_id=key[-1], by="closing", reason=cmd.reason, at=now)
            for key in state.waiting
        ]
    if state.status == "closed" and sent_home:
        return sent_home
    require_queue_status(state, ("open", "paused"), "close")
    return [*sent_home, QueueClosed(reason=cmd.reason, at=now)]


# Joining the line -----------------------------------------------------------------------------


def _enqueue(state: QueueState, cmd: EnqueueTicket, now: datetime) -> list[QueueEvent]:
    config = state.config
    if state.status == "closed":
        raise Rejected("queue-closed", f"queue {state.queue_id!r} is closed")
    if not cmd.ticket_id:
        raise invalid("ticket id is required")
    priority = joining_class(config, cmd.priority, cmd.service_type)
    if cmd.ticket_id in state.tickets:
        raise Rejected("already-exists", f"ticket {cmd.ticket_id!r} already exists in this queue")
    allowed_outside = config.allow_outside_hours or cmd.allow_outside_hours
    if not allowed_outside and not is_open_at(config, now):
        raise Rejected("outside-hours", f"queue {state.queue_id!r} is outside its opening hours")
    if is_full(state):
        raise Rejected("queue-full", f"queue {state.queue_id!r} has {config.capacity} waiting")
    number, daily = next_number(state, now)
    return [
        TicketEnqueued(
            ticket_id=cmd.ticket_id,
            number=number,
            daily_number=daily,
            seq=state.next_seq,
            priority=priority,
            service_type=cmd.service_type,
            channel=cmd.channel,
            personal=cmd.personal,
            metadata=dict(cmd.metadata),
            language=cmd.language,
            at=now,
        )
    ]


# Calling and serving --------------------------------------------------------------------------


def _call_next(state: QueueState, cmd: CallNext, now: datetime) -> list[QueueEvent]:
    if state.status == "paused":
        raise Rejected("queue-paused", f"queue {state.queue_id!r} is paused")
    check_counter(state, cmd.counter)
    unknown = [s for s in cmd.service_types or () if s not in state.config.service_types]
    if unknown:
        raise invalid(f"unknown service types {unknown}")
    ticket = next_ticket(state, cmd.service_types)
    if ticket is None:
        raise Rejected(
            "queue-empty",
            "no ticket is waiting"
            + (f" for {list(cmd.service_types)}" if cmd.service_types else ""),
        )
    return [
        *free_counter(state, cmd.counter, now),
        TicketCalled(
            ticket_id=ticket.ticket_id, counter=cmd.counter, override=False, reason=None, at=now
        ),
    ]


def _call_ticket(state: QueueState, cmd: CallTicket, now: datetime) -> list[QueueEvent]:
    ticket = get_ticket(state, cmd.ticket_id)
    if state.status == "paused":
        raise Rejected("queue-paused", f"queue {state.queue_id!r} is paused")
    check_counter(state, cmd.counter)
    if not cmd.reason.strip():
        raise invalid("calling a ticket out of order needs a reason")
    require_status(ticket, ("waiting",), "call")
    return [
        *free_counter(state, cmd.counter, now),
        TicketCalled(
            ticket_id=ticket.ticket_id,
            counter=cmd.counter,
            override=True,
            reason=cmd.reason,
            at=now,
        ),
    ]


def _recall(state: QueueState, cmd: RecallTicket, now: datetime) -> list[QueueEvent]:
    ticket = get_ticket(state, cmd.ticket_id)
    require_status(ticket, ("called",), "recall")
    return [
        TicketRecalled(
            ticket_id=ticket.ticket_id,
            counter=_counter_of(ticket),
            recall_count=ticket.recall_count + 1,
            at=now,
        )
    ]


def _start(state: QueueState, cmd: StartService, now: datetime) -> list[QueueEvent]:
    ticket = get_ticket(state, cmd.ticket_id)
    require_status(ticket, ("called",), "start service")
    return [ServiceStarted(ticket_id=ticket.ticket_id, counter=_counter_of(ticket), at=now)]


def _complete(state: QueueState, cmd: CompleteService, now: datetime) -> list[QueueEvent]:
    ticket = get_ticket(state, cmd.ticket_id)
    require_status(ticket, ("called", "serving"), "complete service")
    return [TicketServed(ticket_id=ticket.ticket_id, counter=_counter_of(ticket), at=now)]


def _no_show(state: QueueState, cmd: MarkNoShow, now: datetime) -> list[QueueEvent]:
    ticket = get_ticket(state, cmd.ticket_id)
    require_status(ticket, ("called",), "mark no-show")
    return [TicketNoShow(ticket_id=ticket.ticket_id, counter=_counter_of(ticket), at=now)]


def _cancel(state: QueueState, cmd: CancelTicket, now: datetime) -> list[QueueEvent]:
    ticket = get_ticket(state, cmd.ticket_id)
    require_status(ticket, ("waiting", "called"), "cancel")
    return [TicketCancelled(ticket_id=ticket.ticket_id, by=cmd.by, reason=cmd.reason, at=now)]


def _return(state: QueueState, cmd: ReturnTicket, now: datetime) -> list[QueueEvent]:
    ticket = get_ticket(state, cmd.ticket_id)
    require_status(ticket, ("no_show",), "return")
    grace = timedelta(seconds=state.config.no_show_grace_seconds)
    if ticket.finished_at is None or now - ticket.finished_at > grace:
        raise Rejected(
            "grace-expired",
            f"ticket {ticket.ticket_id!r} missed its call more than "
            f"{state.config.no_show_grace_seconds} s ago",
        )
    return [TicketReturned(ticket_id=ticket.ticket_id, seq=state.next_seq, at=now)]


# Priorities -----------------------------------------------------------------------------------


def _change_priority(state: QueueState, cmd: ChangePriority, now: datetime) -> list[QueueEvent]:
    ticket = get_ticket(state, cmd.ticket_id)
    require_status(ticket, ("waiting",), "change priority")
    if not cmd.reason.strip():
        raise invalid("changing a priority needs a reason")
    classes = state.config.priority_classes
    if cmd.priority not in classes:
        raise invalid(f"unknown priority {cmd.priority!r}; classes are {list(classes)}")
    if cmd.priority == ticket.priority:
        raise invalid(f"ticket {ticket.ticket_id!r} already has priority {cmd.priority!r}")
    return [
        TicketPriorityChanged(
            ticket_id=ticket.ticket_id,
            from_priority=ticket.priority,
            to_priority=cmd.priority,
            reason=cmd.reason,
            at=now,
        )
    ]


def _promote(state: QueueState, cmd: PromoteAgedTickets, now: datetime) -> list[QueueEvent]:
    """One class up for every ticket that waited its class's bound; [] when nobody did."""
    after = state.config.aging_after_seconds
    if after is None:
        return []
    bound = timedelta(seconds=after)
    events: list[QueueEvent] = []
    for key in state.waiting:
        ticket = state.tickets[key[3]]
        if now - ticket.class_since < bound:
            continue
        target = aging_target(state.config, ticket.priority)
        if target is not None:
            events.append(
                TicketPromoted(
                    ticket_id=ticket.ticket_id,
                    from_priority=ticket.priority,
                    to_priority=target,
                    at=now,
                )
            )
    return events


_HANDLERS: dict[type[Any], Callable[[QueueState, Any, datetime], list[QueueEvent]]] = {
    ReconfigureQueue: _reconfigure,
    ChangeQueueSettings: _change_settings,
    OpenQueue: _open,
    PauseQueue: _pause,
    ResumeQueue: _resume,
    CloseQueue: _close,
    EnqueueTicket: _enqueue,
    CallNext: _call_next,
    CallTicket: _call_ticket,
    RecallTicket: _recall,
    StartService: _start,
    CompleteService: _complete,
    MarkNoShow: _no_show,
    CancelTicket: _cancel,
    ReturnTicket: _return,
    ChangePriority: _change_priority,
    PromoteAgedTickets: _promote,
    BookAppointment: appointments.book,
    RescheduleAppointment: appointments.reschedule,
    CancelAppointment: appointments.cancel,
    CheckInAppointment: appointments.check_in,
    SetCounterBreak: breaks.set_break,
    EndCounterBreak: breaks.end_break,
}


def decide(state: QueueState, command: QueueCommand, now: datetime) -> list[QueueEvent]:
    """The events `command` causes on `state` at `now`, or Rejected. Never mutates `state`."""
    check_clock(now)
    if isinstance(command, CreateQueue):
        return _create(state, command, now)
    if not state.created:
        raise Rejected("not-found", f"queue {state.queue_id!r} does not exist")
    handler = _HANDLERS.get(type(command))
    if handler is None:
        raise TypeError(f"not a queue command: {type(command).__name__}")
    return handler(state, command, now)
