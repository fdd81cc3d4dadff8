"""What a command did: the command's side of an answer, kept with its Idempotency-Key.

An outcome is decided inside the queue's turn (positions are read from the state as it is right
after the command) and is plain data afterwards, so the HTTP layer renders it outside the
transaction and a retry renders the stored one the same way, byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from domain.recorded import RecordedEvent
from domain.state import QueueState, position


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketSummary:
    """The ticket a command made or moved, as it stood right after the command."""

    ticket_id: str
    queue_id: str
    number: str
    status: str
    priority: str
    service_type: str | None
    counter: str | None
    position: int | None  # 1 = next to be called; None unless waiting
    # Who ended it when cancelled (customer, staff, closing); an outcome stored before has none.
    cancelled_by: str | None = None

    @classmethod
    def of(cls, state: QueueState, ticket_id: str) -> TicketSummary:
        ticket = state.tickets[ticket_id]
        return cls(
            ticket_id=ticket_id,
            queue_id=state.queue_id,
            number=ticket.number,
            status=ticket.status,
            priority=ticket.priority,
            service_type=ticket.service_type,
            counter=ticket.counter,
            position=position(state, ticket_id),
            cancelled_by=ticket.cancelled_by,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    queue_id: str  # the queue the command was given to
    # Every stream the command touched, with its new version (the command's queue first).
    versions: Mapping[str, int]
    event_ids: Sequence[str]  # every event appended, in order
    event_types: Sequence[str]  # of the events appended to the command's own queue
    ticket: TicketSummary | None = None
    # The events appended (empty when the outcome is a stored one, replayed).
    records: Sequence[RecordedEvent] = ()
    replayed: bool = False

    @property
    def stream_version(self) -> int:
        return self.versions[self.queue_id]

    def to_json(self) -> dict[str, Any]:
        ticket = self.ticket
        return {
            "queue_id": self.queue_id,
            "versions": dict(self.versions),
            "event_ids": list(self.event_ids),
            "event_types": list(self.event_types),
            "ticket": None if ticket is None else asdict(ticket),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, replayed: bool = False) -> Outcome:
        queue_id = str(data["queue_id"])
        # The command's queue first, whatever order the store kept the keys in.
        versions = {queue_id: int(data["versions"][queue_id])}
        versions.update({str(k): int(v) for k, v in data["versions"].items()})
        ticket = data.get("ticket")
        return cls(
            queue_id=queue_id,
            versions=versions,
            event_ids=[str(e) for e in data["event_ids"]],
            event_types=[str(e) for e in data["event_types"]],
            ticket=None if ticket is None else TicketSummary(**ticket),
            replayed=replayed,
        )
