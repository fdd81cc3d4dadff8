"""What a batch did to a queue, as the stream processor tells it: each event's change to the line
(pushed live, announced on the positions topic, kept for followers' replay) and the queue's update
(the batch message a follower receives)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Moved:
    ticket_id: str
    number: str
    position: int


@dataclass(slots=True)
class Change:
    """What one event did to the line: pushed live and announced on the positions topic."""

    version: int
    type: str
    at: str
    ticket_id: str | None = None
    number: str | None = None
    status: str | None = None
    counter: str | None = None
    was: str | None = None  # the ticket's status before (None: it is new), for replay
    was_counter: str | None = None
    left: int | None = None  # the position it had when it left the line
    joined: int | None = None  # the position it took when it joined the line
    shifted: list[Moved] = field(default_factory=list)  # others among the first few that moved

    def as_dict(self) -> dict[str, Any]:
        """`dataclasses.asdict(self)`, written out: asdict's generic deep copy cost the worker
        a tenth of its time (it runs twice per change: the batch message, the replay list)."""
        return {
            "version": self.version,
            "type": self.type,
            "at": self.at,
            "ticket_id": self.ticket_id,
            "number": self.number,
            "status": self.status,
            "counter": self.counter,
            "was": self.was,
            "was_counter": self.was_counter,
            "left": self.left,
            "joined": self.joined,
            "shifted": [
                {"ticket_id": m.ticket_id, "number": m.number, "position": m.position}
                for m in self.shifted
            ],
        }


@dataclass(frozen=True, slots=True)
class QueueUpdate:
    tenant_id: str
    queue_id: str
    version: int
    view: dict[str, Any]
    changes: list[Change]
    etas: dict[str, dict[str, Any]]  # the wait ranges this batch recomputed, by ticket
    newcomer: dict[str, Any] | None  # the summary's wait range

    def message(self) -> dict[str, Any]:
        return {
            "queue_id": self.queue_id,
            "version": self.version,
            "view": self.view,
            "changes": [c.as_dict() for c in self.changes],
            "etas": self.etas,
            "newcomer": self.newcomer,
        }
