"""A command request, and what deciding it writes: the events per queue, the appends (with the
ticket index's rows), the outcome and the idempotency record. No store and no clock here (the
queue service, service_layer/queues.py, takes the turns, reads and appends)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.commands import CallNext, MoveWaiting, QueueCommand, TransferTicket
from domain.decide import decide
from domain.events import QueueEvent, TicketCalled
from domain.evolve import evolve
from domain.recorded import RecordedEvent
from domain.state import QueueState
from domain.transfer import decide_move, decide_transfer
from eventstore.values import CommandContext, IdempotencyRecord, StreamAppend, new_records
from service_layer.indexing import indexed
from service_layer.outcome import Outcome, TicketSummary

Command = QueueCommand | TransferTicket | MoveWaiting


@dataclass(frozen=True, slots=True, kw_only=True)
class Idempotency:
    key: str
    request_hash: bytes  # of the request that used the key: another request with it is refused


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandRequest:
    """A domain command, addressed and attributed."""

    tenant_id: str
    command: Command
    context: CommandContext
    # The queue; None for a command on a ticket: the queue that holds the ticket now.
    queue_id: str | None = None
    idempotency: Idempotency | None = None
    # Act only if the queue is at this version (If-Match).
    expected_version: int | None = None
    # The queues the giver may act on (staff with assignments); None: all of the tenant's.
    # Checked on the queues the command acts on, once known (a ticket's: where it is found).
    queues: frozenset[str] | None = None


def decide_all(
    states: Sequence[QueueState], command: Command, now: datetime
) -> list[list[QueueEvent]]:
    """The events for each stream, in the order of `states`."""
    if isinstance(command, TransferTicket):
        out_events, in_events = decide_transfer(states[0], states[1], command, now)
        return [out_events, in_events]
    if isinstance(command, MoveWaiting):
        out_events, in_events = decide_move(states[0], states[1], command, now)
        return [out_events, in_events]
    return [decide(states[0], command, now)]


def written(
    request: CommandRequest, states: Sequence[QueueState], produced: Sequence[list[QueueEvent]]
) -> tuple[list[StreamAppend], Outcome, IdempotencyRecord | None]:
    """What to append for the decided events, the command's outcome and its idempotency record.
    The states are folded forward in place (cheap, whatever the line's length): should the append
    fail after this, the caller drops them (they are rebuilt)."""
    appends = [
        indexed(
            new_records(
                stream_id=state.queue_id,
                tenant_id=request.tenant_id,
                expected_version=state.version,
                events=events,
                context=request.context,
            )
        )
        for state, events in zip(states, produced, strict=True)
    ]
    for append, state in zip(appends, states, strict=True):
        for record in append.records:
            evolve(state, record.event)
    outcome = outcome_of(request, appends, states)
    stored = None
    if request.idempotency is not None:
        stored = IdempotencyRecord(
            key=request.idempotency.key,
            request_hash=request.idempotency.request_hash,
            outcome=outcome.to_json(),
        )
    return appends, outcome, stored


def outcome_of(
    request: CommandRequest, appends: Sequence[StreamAppend], states: Sequence[QueueState]
) -> Outcome:
    queue_id = appends[0].stream_id
    records = [r for a in appends for r in a.records]
    ticket_id = subject_of(request.command, appends[0].records)
    holder = next((s for s in reversed(states) if ticket_id in s.tickets), None)
    return Outcome(
        queue_id=queue_id,
        versions={state.queue_id: state.version for state in states},
        event_ids=[r.event_id for r in records],
        event_types=[r.event_type for r in appends[0].records],
        ticket=None if holder is None or ticket_id is None else TicketSummary.of(holder, ticket_id),
        records=records,
    )


def subject_of(command: Command, records: Sequence[RecordedEvent]) -> str | None:
    """The ticket the command made or moved: its own, or the one a call-next called."""
    if isinstance(command, CallNext):
        called = (r.event for r in records if isinstance(r.event, TicketCalled))
        return next((event.ticket_id for event in called), None)
    ticket_id = getattr(command, "ticket_id", None)
    return ticket_id if isinstance(ticket_id, str) else None
