"""given(*events).when(command, now).then(*events) / .rejects(code) for the domain rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.commands import QueueCommand
from domain.config import QueueConfig
from domain.decide import decide
from domain.errors import Rejected
from domain.events import QueueCreated, QueueEvent, TicketCalled, TicketEnqueued
from domain.evolve import fold
from domain.snapshot import to_snapshot
from domain.state import QueueState, initial_state

QUEUE = "q-1"
TENANT = "t-1"
# A Monday morning, so weekday-based opening hours read naturally.
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
CONFIG = QueueConfig(name="Front desk", counters=("1", "2"), service_types=("pay", "ask"))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def created(
    config: QueueConfig = CONFIG,
    status: Any = "open",
    queue_id: str = QUEUE,
    tenant_id: str = TENANT,
    when: datetime = T0,
) -> QueueCreated:
    return QueueCreated(
        queue_id=queue_id, tenant_id=tenant_id, config=config, status=status, at=when
    )


def enqueued(
    ticket_id: str,
    seq: int,
    *,
    daily: int | None = None,
    priority: str = "normal",
    service_type: str | None = None,
    when: datetime = T0,
    prefix: str = "A",
) -> TicketEnqueued:
    number = seq if daily is None else daily
    return TicketEnqueued(
        ticket_id=ticket_id,
        number=f"{prefix}-{number:03d}",
        daily_number=number,
        seq=seq,
        priority=priority,
        service_type=service_type,
        channel="api",
        personal=None,
        at=when,
    )


def called(ticket_id: str, counter: str = "1", when: datetime = T0) -> TicketCalled:
    return TicketCalled(ticket_id=ticket_id, counter=counter, override=False, reason=None, at=when)


@dataclass
class Outcome:
    state: QueueState
    events: list[QueueEvent] | None
    error: Rejected | None

    def then(self, *expected: QueueEvent) -> list[QueueEvent]:
        assert self.error is None, f"rejected: {self.error}"
        assert self.events == list(expected)
        return self.events

    def rejects(self, code: str) -> Rejected:
        assert self.error is not None, f"accepted: {self.events}"
        assert self.error.code == code, str(self.error)
        return self.error


@dataclass
class Given:
    events: tuple[QueueEvent, ...]

    def state(self) -> QueueState:
        return fold(self.events, initial_state(QUEUE))

    def when(self, command: QueueCommand, now: datetime = T0) -> Outcome:
        state = self.state()
        before = to_snapshot(state)
        try:
            events, error = decide(state, command, now), None
        except Rejected as rejected:
            events, error = None, rejected
        # decide only reads: accepted or refused, the state is as it was.
        assert to_snapshot(state) == before
        return Outcome(state, events, error)


def given(*events: QueueEvent) -> Given:
    return Given(events)
