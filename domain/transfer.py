"""Moving tickets to another queue of the same tenant: one command, events for two streams.

A transfer moves one ticket (it gets a number of the receiving queue and, by that queue's
policy, keeps its enqueue time or goes to the back). A merge or a split (`MoveWaiting`) moves
everyone waiting, or everyone of some service types: each keeps its number (the one on the
paper in their hand), unless somebody in the receiving queue holds that number now, and its place
in its class, so the receiving line interleaves both lines by priority and the time each person
stands in line by.
"""

from __future__ import annotations

from datetime import datetime

from domain.appointments import moving_bookings
from domain.commands import MoveWaiting, TransferTicket
from domain.errors import Rejected
from domain.events import QueueClosed, QueueEvent, TicketTransferredIn, TicketTransferredOut
from domain.guards import (
    check_clock,
    get_ticket,
    human_number,
    invalid,
    is_full,
    next_number,
    require_status,
)
from domain.policy import carried_priority
from domain.state import QueueState, TicketState, waiting_ids

TRANSFERABLE = ("waiting", "called", "serving")
SERVED_NOW = ("called", "serving")  # at a counter: their number is still being called out


def decide_transfer(
    source: QueueState, target: QueueState, command: TransferTicket, now: datetime
) -> tuple[list[QueueEvent], list[QueueEvent]]:
    """(events for the source stream, events for the target stream), or Rejected.

    The caller appends both lists; reads neither state's clock, changes neither state.
    """
    check_clock(now)
    _check_source(source)
    ticket = get_ticket(source, command.ticket_id)
    require_status(ticket, TRANSFERABLE, "transfer")
    if command.to_queue_id == source.queue_id:
        raise invalid("a ticket cannot be transferred to the queue it is in")
    _check_target(source, target, command.to_queue_id)
    if is_full(target):
        raise Rejected("queue-full", f"queue {target.queue_id!r} is full")
    service_type = (
        command.service_type if command.service_type is not None else (ticket.service_type)
    )
    _check_type(target, service_type)
    _check_new(target, ticket)
    number, daily = next_number(target, now)
    order_at = ticket.enqueued_at if target.config.transfer_policy == "keep_enqueue_time" else now
    out = TicketTransferredOut(
        ticket_id=ticket.ticket_id, to_queue_id=target.queue_id, reason=command.reason, at=now
    )
    into = _into(
        source, target, ticket, service_type, (number, daily, target.next_seq), order_at, now
    )
    return [out], [into]


def decide_move(
    source: QueueState, target: QueueState, command: MoveWaiting, now: datetime
) -> tuple[list[QueueEvent], list[QueueEvent]]:
    """A merge or a split: (events for the source stream, events for the target stream), or
    Rejected. Nothing moves unless everyone can: the receiving queue must take every service
    type moved and have room for everyone."""
    check_clock(now)
    _check_source(source)
    if command.to_queue_id == source.queue_id:
        raise invalid("a queue cannot be merged into or split into itself")
    _check_target(source, target, command.to_queue_id)
    moving = _moving(source, command.service_types)
    if not moving and not (command.close and source.status != "closed"):
        chosen = "" if command.service_types is None else f" of {list(command.service_types)}"
        raise Rejected("queue-empty", f"nobody{chosen} is waiting in queue {source.queue_id!r}")
    capacity = target.config.capacity
    if capacity is not None and len(target.waiting) + len(moving) > capacity:
        raise Rejected(
            "queue-full",
            f"queue {target.queue_id!r} has room for {max(capacity - len(target.waiting), 0)}"
            f" more, and {len(moving)} would move",
        )
    for ticket in moving:
        _check_type(target, ticket.service_type)
        _check_new(target, ticket)
    # The receiving queue's own numbering goes on where it was: the people moved keep theirs,
    # unless somebody there holds the same number now (two queues with one prefix): then they
    # get the receiving queue's next number (their ticket page shows it). Every event carries
    # the numbering as it stands after it, so the queue never hands out a number twice.
    _, first = next_number(target, now)
    daily = first - 1
    held = {t.number for t in target.tickets.values() if t.status in ("waiting", *SERVED_NOW)}
    out: list[QueueEvent] = []
    into: list[QueueEvent] = []
    for offset, ticket in enumerate(moving):
        out.append(
            TicketTransferredOut(
                ticket_id=ticket.ticket_id,
                to_queue_id=target.queue_id,
                reason=command.reason,
                at=now,
            )
        )
        number = ticket.number
        if number in held:
            daily += 1
            number = human_number(target, daily)
        held.add(number)
        numbering = (number, daily, target.next_seq + offset)
        into.append(
            _into(source, target, ticket, ticket.service_type, numbering, ticket.order_at, now)
        )
    types = None if command.service_types is None else frozenset(command.service_types)
    bookings_out, bookings_in = moving_bookings(source, target, types, now)
    out += bookings_out
    into += bookings_in
    if command.close and source.status != "closed":
        out.append(QueueClosed(reason=command.reason, at=now))
    return out, into


def _check_source(source: QueueState) -> None:
    if not source.created:
        raise Rejected("not-found", f"queue {source.queue_id!r} does not exist")


def _check_target(source: QueueState, target: QueueState, to_queue_id: str) -> None:
    if not target.created or target.tenant_id != source.tenant_id or target.queue_id != to_queue_id:
        raise Rejected("not-found", f"queue {to_queue_id!r} does not exist")
    if target.status == "closed":
        raise Rejected("queue-closed", f"queue {target.queue_id!r} is closed")


def _moving(source: QueueState, service_types: tuple[str, ...] | None) -> list[TicketState]:
    """The tickets that move, in the source's line order; a split names types the queue has."""
    if service_types is not None:
        if not service_types:
            raise invalid("name at least one service type to split off")
        unknown = sorted(set(service_types) - set(source.config.service_types))
        if unknown:
            raise invalid(f"queue {source.queue_id!r} has no service type {unknown[0]!r}")
    tickets = [source.tickets[ticket_id] for ticket_id in waiting_ids(source)]
    if service_types is None:
        return tickets
    return [t for t in tickets if t.service_type in service_types]


def _check_type(target: QueueState, service_type: str | None) -> None:
    types = target.config.service_types
    if service_type is not None and types and service_type not in types:
        raise invalid(f"queue {target.queue_id!r} has no service type {service_type!r}")


def _check_new(target: QueueState, ticket: TicketState) -> None:
    existing = target.tickets.get(ticket.ticket_id)
    if existing is not None and existing.status != "transferred":
        # A ticket that once left the target may come back; any other clash is a duplicate id.
        raise Rejected("already-exists", f"ticket {ticket.ticket_id!r} exists in the target")


def _into(
    source: QueueState,
    target: QueueState,
    ticket: TicketState,
    service_type: str | None,
    numbering: tuple[str, int, int],
    order_at: datetime,
    now: datetime,
) -> TicketTransferredIn:
    """The ticket joining the target: `numbering` is (number, daily number, seq)."""
    number, daily, seq = numbering
    return TicketTransferredIn(
        ticket_id=ticket.ticket_id,
        from_queue_id=source.queue_id,
        number=number,
        daily_number=daily,
        seq=seq,
        priority=carried_priority(target.config, ticket.priority),
        service_type=service_type,
        channel=ticket.channel,
        personal=ticket.personal,
        metadata=dict(ticket.metadata),
        language=ticket.language,
        original_enqueued_at=ticket.enqueued_at,
        order_at=order_at,
        at=now,
    )
