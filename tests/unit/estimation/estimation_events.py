"""Hand-made event sequences for the estimation tests: a queue folded event by event."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from domain.config import QueueConfig
from domain.estimation.model import Estimator
from domain.events import (
    QueueCreated,
    QueueEvent,
    ServiceStarted,
    TicketCalled,
    TicketCancelled,
    TicketEnqueued,
    TicketServed,
    TicketTransferredOut,
)
from domain.evolve import evolve
from domain.state import QueueState, initial_state

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)  # a Monday


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Queue:
    """A queue fed event by event, with every estimator observing each one."""

    def __init__(self, config: QueueConfig, *estimators: Estimator) -> None:
        self.state: QueueState = initial_state("q")
        self.estimators = list(estimators)
        self.seq = 0
        self.events: list[QueueEvent] = []
        self.apply(QueueCreated(queue_id="q", tenant_id="t", config=config, status="open", at=T0))

    def apply(self, event: QueueEvent) -> None:
        evolve(self.state, event)
        self.events.append(event)
        for estimator in self.estimators:
            estimator.observe(self.state, event)

    def enqueue(
        self, ticket_id: str, when: float, priority: str = "normal", service_type: str | None = None
    ) -> None:
        self.seq += 1
        self.apply(
            TicketEnqueued(
                ticket_id=ticket_id,
                number=f"A-{self.seq:03d}",
                daily_number=self.seq,
                seq=self.seq,
                priority=priority,
                service_type=service_type,
                channel="api",
                contact=None,
                at=at(when),
            )
        )

    def call(self, ticket_id: str, counter: str, when: float) -> None:
        self.apply(
            TicketCalled(
                ticket_id=ticket_id, counter=counter, override=False, reason=None, at=at(when)
            )
        )

    def start(self, ticket_id: str, counter: str, when: float) -> None:
        self.apply(ServiceStarted(ticket_id=ticket_id, counter=counter, at=at(when)))

    def serve(self, ticket_id: str, counter: str, when: float) -> None:
        self.apply(TicketServed(ticket_id=ticket_id, counter=counter, at=at(when)))

    def cancel(self, ticket_id: str, when: float) -> None:
        self.apply(TicketCancelled(ticket_id=ticket_id, by="customer", reason=None, at=at(when)))

    def transfer(self, ticket_id: str, when: float) -> None:
        self.apply(
            TicketTransferredOut(ticket_id=ticket_id, to_queue_id="q2", reason=None, at=at(when))
        )


def busy_counters(queue: Queue, counters: Iterable[str], when: float) -> None:
    """Put one ticket at each counter (called at `when`, started right away)."""
    for counter in counters:
        ticket = f"busy-{counter}"
        queue.enqueue(ticket, when)
        queue.call(ticket, counter, when)
        queue.start(ticket, counter, when)
