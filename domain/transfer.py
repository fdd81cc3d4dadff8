"""Moving a ticket to another queue of the same tenant: one command, events for two streams."""

from __future__ import annotations

from datetime import datetime

from domain.commands import TransferTicket
from domain.errors import Rejected
from domain.events import QueueEvent, TicketTransferredIn, TicketTransferredOut
from domain.guards import check_clock, get_ticket, invalid, is_full, next_number, require_status
from domain.state import QueueState

TRANSFERABLE = ("waiting", "called", "serving")


def decide_transfer(
    source: QueueState, target: QueueState, command: TransferTicket, now: datetime
) -> tuple[list[QueueEvent], list[QueueEvent]]:
    """(events for the source stream, events for the target stream), or Rejected.

    The caller appends both lists; reads neither state's clock, changes neither state.
    """
    check_clock(now)
    if not source.created:
        raise Rejected("not-found", f"queue {source.queue_id!r} does not exist")
    ticket = get_ticket(source, command.ticket_id)
    require_status(ticket, TRANSFERABLE, "transfer")
    if command.to_queue_id == source.queue_id:
        raise invalid("a ticket cannot be transferred to the queue it is in")
    if (
        not target.created
        or target.tenant_id != source.tenant_id
        or target.queue_id != command.to_queue_id
    ):
        raise Rejected("not-found", f"queue {command.to_queue_id!r} does not exist")
    if target.status == "closed":
        raise Rejected("queue-closed", f"queue {target.queue_id!r} is closed")
    if is_full(target):
        raise Rejected("queue-full", f"queue {target.queue_id!r} is full")
    config = target.config
    service_type = (
        command.service_type if command.service_type is not None else (ticket.service_type)
    )
    if (
        service_type is not None
        and config.service_types
        and (service_type not in config.service_types)
    ):
        raise invalid(f"queue {target.queue_id!r} has no service type {service_type!r}")
    existing = target.tickets.get(ticket.ticket_id)
    if existing is not None and existing.status != "transferred":
        # A ticket that once left the target may come back; any other clash is a duplicate id.
        raise Rejected("already-exists", f"ticket {ticket.ticket_id!r} exists in the target")
    priority = (
        ticket.priority if ticket.priority in config.priority_classes else config.default_priority
    )
    number, daily = next_number(target, now)
    order_at = ticket.enqueued_at if config.transfer_policy == "keep_enqueue_time" else now
    out = TicketTransferredOut(
        ticket_id=ticket.ticket_id, to_queue_id=target.queue_id, reason=command.reason, at=now
    )
    into = TicketTransferredIn(
        ticket_id=ticket.ticket_id,
        from_queue_id=source.queue_id,
        number=number,
        daily_number=daily,
        seq=target.next_seq,
        priority=priority,
        service_type=service_type,
        channel=ticket.channel,
        contact=ticket.contact,
        metadata=dict(ticket.metadata),
        language=ticket.language,
        original_enqueued_at=ticket.enqueued_at,
        order_at=order_at,
        at=now,
    )
    return [out], [into]
