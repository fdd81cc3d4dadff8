"""evolve(state, event): the one way a queue's state changes, in place, O(log n) per event.

Each event's `at` is the only clock read here, so folding the same events always gives the same
state, on the write side, on the read side and in a replay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sortedcontainers import SortedList

from domain import appointments, breaks
from domain.appointments import APPOINTMENT_METADATA
from domain.config import QueueConfig
from domain.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentRescheduled,
    AppointmentTransferredIn,
    AppointmentTransferredOut,
    CounterBreakSet,
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
    TicketTransferredIn,
    TicketTransferredOut,
)
from domain.hours import local_day
from domain.state import (
    FINISHED_RETENTION,
    QueueState,
    TicketState,
    TicketStatus,
    initial_state,
    line_key,
)


def evolve(state: QueueState, event: QueueEvent) -> QueueState:
    """Apply one event to `state` in place and return it (version + 1)."""
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise TypeError(f"not a queue event: {type(event).__name__}")
    if state.last_evicted:
        state.last_evicted = []
    handler(state, event)
    state.version += 1
    return state


def fold(events: Iterable[QueueEvent], state: QueueState | None = None) -> QueueState:
    """Apply `events` in order, in place on `state` when given (else on a fresh state)."""
    current = state if state is not None else initial_state("")
    for event in events:
        current = evolve(current, event)
    return current


def _count(state: QueueState, what: str) -> None:
    state.totals[what] = state.totals.get(what, 0) + 1


def set_config(state: QueueState, config: QueueConfig) -> None:
    old_classes = state.config.priority_classes
    state.config = config
    state.ranks = {priority: i for i, priority in enumerate(config.priority_classes)}
    if config.priority_classes != old_classes and state.waiting:
        # Ranks changed: re-key the line (a rare, deliberate O(n log n)).
        keys = [line_key(state, state.tickets[key[3]]) for key in state.waiting]
        state.waiting = SortedList(keys)


def _created(state: QueueState, event: QueueCreated) -> None:
    state.created_at = event.at
    state.queue_id = event.queue_id
    state.tenant_id = event.tenant_id
    state.created = True
    state.status = event.status
    set_config(state, event.config)


def _reconfigured(state: QueueState, event: QueueReconfigured) -> None:
    set_config(state, event.config)


def _opened(state: QueueState, event: QueueOpened) -> None:
    state.status = "open"


def _paused(state: QueueState, event: QueuePaused) -> None:
    state.status = "paused"


def _resumed(state: QueueState, event: QueueResumed) -> None:
    state.status = "open"


def _closed(state: QueueState, event: QueueClosed) -> None:
    state.status = "closed"


def _note_number(state: QueueState, daily_number: int, at: datetime) -> None:
    state.daily_number = daily_number
    day = local_day(state.config, at)
    if state.daily_day is None or day > state.daily_day:
        state.daily_day = day


def _note_seq(state: QueueState, seq: int) -> None:
    state.next_seq = max(state.next_seq, seq + 1)


def _detach(state: QueueState, ticket: TicketState) -> None:
    """Take the ticket out of the line or off its counter, wherever it is."""
    if ticket.status == "waiting":
        state.waiting.remove(line_key(state, ticket))
    elif ticket.status in ("called", "serving") and ticket.counter is not None:
        ids = state.at_counters.get(ticket.counter)
        if ids is not None and ticket.ticket_id in ids:
            ids.remove(ticket.ticket_id)
            if not ids:
                del state.at_counters[ticket.counter]
    state.finished.pop(ticket.ticket_id, None)


def _join(state: QueueState, ticket: TicketState) -> None:
    old = state.tickets.get(ticket.ticket_id)
    if old is not None:
        _detach(state, old)
    state.tickets[ticket.ticket_id] = ticket
    state.waiting.add(line_key(state, ticket))


def _enqueued(state: QueueState, event: TicketEnqueued) -> None:
    _admit(
        state,
        event,
        enqueued_at=event.at,
        order_at=event.at,
        transferred_from=None,
        enqueued_here=True,
    )


def _transferred_in(state: QueueState, event: TicketTransferredIn) -> None:
    # A ticket may come back to a queue it was transferred out of: it is still its home.
    previous = state.tickets.get(event.ticket_id)
    _admit(
        state,
        event,
        enqueued_at=event.original_enqueued_at,
        order_at=event.order_at,
        transferred_from=event.from_queue_id,
        enqueued_here=previous is not None and previous.enqueued_here,
    )


def _appointment_checked_in(state: QueueState, event: AppointmentCheckedIn) -> None:
    appointments.checked_in(state, event)
    _admit(
        state,
        event,
        enqueued_at=event.at,
        order_at=event.order_at,
        transferred_from=None,
        enqueued_here=True,
    )


def _admit(
    state: QueueState,
    event: TicketEnqueued | TicketTransferredIn | AppointmentCheckedIn,
    *,
    enqueued_at: datetime,
    order_at: datetime,
    transferred_from: str | None,
    enqueued_here: bool,
) -> None:
    """A ticket joins this queue's line (enqueued here, or transferred in)."""
    _count(state, "arrived")
    _join(
        state,
        TicketState(
            ticket_id=event.ticket_id,
            number=event.number,
            daily_number=event.daily_number,
            seq=event.seq,
            priority=event.priority,
            service_type=event.service_type,
            channel=event.channel,
            personal=event.personal,
            metadata=(
                {APPOINTMENT_METADATA: event.appointment_id}
                if isinstance(event, AppointmentCheckedIn)
                else dict(event.metadata)
            ),
            language=event.language,
            transferred_from=transferred_from,
            enqueued_here=enqueued_here,
            enqueued_at=enqueued_at,
            order_at=order_at,
            class_since=event.at,
        ),
    )
    _note_seq(state, event.seq)
    _note_number(state, event.daily_number, event.at)


def _called(state: QueueState, event: TicketCalled) -> None:
    ticket = state.tickets[event.ticket_id]
    _detach(state, ticket)
    ticket.status = "called"
    ticket.counter = event.counter
    ticket.called_at = event.at
    state.at_counters.setdefault(event.counter, []).append(ticket.ticket_id)
    if state.breaks:
        breaks.called_at(state, event.counter, event.at)


def _recalled(state: QueueState, event: TicketRecalled) -> None:
    ticket = state.tickets[event.ticket_id]
    ticket.recall_count = event.recall_count
    # Called again: it is the newest call at its counter now.
    ids = state.at_counters.get(event.counter)
    if ids is not None and ticket.ticket_id in ids:
        ids.remove(ticket.ticket_id)
        ids.append(ticket.ticket_id)


def _started(state: QueueState, event: ServiceStarted) -> None:
    ticket = state.tickets[event.ticket_id]
    ticket.status = "serving"
    ticket.started_at = event.at


def _finish(state: QueueState, ticket: TicketState, status: TicketStatus, at: datetime) -> None:
    _detach(state, ticket)
    ticket.status = status
    ticket.finished_at = at
    state.finished[ticket.ticket_id] = None
    _count(state, status)
    _evict(state, at)


def _evict(state: QueueState, at: datetime) -> None:
    """Forget the oldest finished tickets beyond FINISHED_RETENTION.

    A no-show still inside its grace period is skipped (it may come back), unless the finished set
    has grown to twice the retention: memory stays bounded whatever happens.
    """
    excess = len(state.finished) - FINISHED_RETENTION
    if excess <= 0:
        return
    hard = len(state.finished) > 2 * FINISHED_RETENTION
    grace = timedelta(seconds=state.config.no_show_grace_seconds)
    victims: list[str] = []
    for ticket_id in state.finished:
        if len(victims) >= excess:
            break
        ticket = state.tickets[ticket_id]
        returnable = (
            ticket.status == "no_show"
            and ticket.finished_at is not None
            and at - ticket.finished_at <= grace
        )
        if hard or not returnable:
            victims.append(ticket_id)
    for ticket_id in victims:
        del state.finished[ticket_id]
        del state.tickets[ticket_id]
    state.last_evicted = victims


def _served(state: QueueState, event: TicketServed) -> None:
    _finish(state, state.tickets[event.ticket_id], "served", event.at)


def _no_show(state: QueueState, event: TicketNoShow) -> None:
    _finish(state, state.tickets[event.ticket_id], "no_show", event.at)


def _cancelled(state: QueueState, event: TicketCancelled) -> None:
    ticket = state.tickets[event.ticket_id]
    ticket.cancelled_by = event.by
    _finish(state, ticket, "cancelled", event.at)


def _transferred_out(state: QueueState, event: TicketTransferredOut) -> None:
    ticket = state.tickets[event.ticket_id]
    ticket.transferred_to = event.to_queue_id
    _finish(state, ticket, "transferred", event.at)


def _returned(state: QueueState, event: TicketReturned) -> None:
    ticket = state.tickets[event.ticket_id]
    _detach(state, ticket)
    ticket.status = "waiting"
    ticket.seq = event.seq
    ticket.order_at = event.at
    ticket.class_since = event.at
    ticket.finished_at = None
    state.waiting.add(line_key(state, ticket))
    _note_seq(state, event.seq)


def _reclass(state: QueueState, ticket_id: str, priority: str, at: datetime) -> None:
    """Move a ticket to another class; it keeps its order_at, so its arrival still counts."""
    ticket = state.tickets[ticket_id]
    waiting = ticket.status == "waiting"
    if waiting:
        state.waiting.remove(line_key(state, ticket))
    ticket.priority = priority
    ticket.class_since = at
    if waiting:
        state.waiting.add(line_key(state, ticket))


def _priority_changed(state: QueueState, event: TicketPriorityChanged) -> None:
    _reclass(state, event.ticket_id, event.to_priority, event.at)


def _promoted(state: QueueState, event: TicketPromoted) -> None:
    _reclass(state, event.ticket_id, event.to_priority, event.at)


_HANDLERS: dict[type[Any], Callable[[QueueState, Any], None]] = {
    QueueCreated: _created,
    QueueReconfigured: _reconfigured,
    QueueOpened: _opened,
    QueuePaused: _paused,
    QueueResumed: _resumed,
    QueueClosed: _closed,
    TicketEnqueued: _enqueued,
    TicketCalled: _called,
    TicketRecalled: _recalled,
    ServiceStarted: _started,
    TicketServed: _served,
    TicketNoShow: _no_show,
    TicketCancelled: _cancelled,
    TicketReturned: _returned,
    TicketPriorityChanged: _priority_changed,
    TicketPromoted: _promoted,
    TicketTransferredOut: _transferred_out,
    TicketTransferredIn: _transferred_in,
    AppointmentBooked: appointments.booked,
    AppointmentRescheduled: appointments.rescheduled,
    AppointmentCancelled: appointments.cancelled,
    AppointmentCheckedIn: _appointment_checked_in,
    CounterBreakSet: breaks.break_set,
    AppointmentTransferredOut: appointments.transferred_out,
    AppointmentTransferredIn: appointments.booked,
}
