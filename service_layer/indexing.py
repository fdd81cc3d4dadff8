"""The event store's side tables, filled from what the events mean.

The store keeps which queue holds each ticket (so a ticket command finds its queue) and which
queues age their tickets (so the scheduler visits only those); it does not read events to know
that. This module does, for every append the service layer makes.
"""

from __future__ import annotations

import dataclasses

from domain.events import (
    AppointmentBooked,
    AppointmentCheckedIn,
    AppointmentTransferredIn,
    QueueCreated,
    QueueReconfigured,
    TicketEnqueued,
    TicketTransferredIn,
)
from eventstore.values import StreamAppend


def indexed(append: StreamAppend) -> StreamAppend:
    """`append` with the tickets it brings into its stream and, if its events configure the
    queue, whether the queue ages its tickets (as the newest configuration says)."""
    tickets = [
        r.event.ticket_id
        for r in append.records
        if isinstance(r.event, TicketEnqueued | TicketTransferredIn | AppointmentCheckedIn)
    ]
    # A booking's id is its ticket's to come: it finds its queue the same way (and the ticket,
    # checked in, keeps the id).
    tickets += [
        r.event.appointment_id
        for r in append.records
        if isinstance(r.event, AppointmentBooked | AppointmentTransferredIn)
    ]
    ages = append.ages
    for record in append.records:
        if isinstance(record.event, QueueCreated | QueueReconfigured):
            ages = record.event.config.aging_after_seconds is not None
    return dataclasses.replace(append, tickets=(*append.tickets, *tickets), ages=ages)
