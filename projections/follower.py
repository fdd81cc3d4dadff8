"""Following one ticket through its queue's batch messages, change by change.

A batch may call several tickets ahead at once; reading Redis after it would show only the last
position. Each change in a batch message says where its ticket left and joined the line, which is
all it takes to move the followed ticket's position one step at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.estimates import shown


@dataclass(frozen=True, slots=True)
class Step:
    """One change of a followed ticket's view: the version that made it and what it shows."""

    version: int
    status: str
    position: int | None
    counter: str | None
    own: bool  # at or after a change of the ticket itself in this batch


@dataclass(frozen=True, slots=True)
class Fold:
    steps: list[Step]
    touched: bool  # the ticket itself changed in this batch (its timestamps did too)
    reread: bool  # a missed message or a change the fold cannot follow: read Redis instead


class TicketFollower:
    """Folds the projector's batch messages into one ticket's position, change by change.

    A batch may call several tickets ahead at once; reading Redis after it would show only the
    last position. Each change says where its ticket left and joined the line, which is all it
    takes to move the followed ticket's position one step at a time.
    """

    def __init__(self, ticket_id: str, view: dict[str, Any], eta: dict[str, Any] | None) -> None:
        self.ticket_id = ticket_id
        self.view = view  # the last view emitted, as the API shows it
        self.eta = eta  # its wait range as last stored
        self.version: int = view["version"]
        self.status: str = view["status"]
        self.position: int | None = view["position"]
        self.counter: str | None = view["counter"]
        # Its queue's status (a batch message carries the queue's view): paused, nobody is called.
        self.queue_status: str | None = view.get("queue_status")

    def mark(self) -> tuple[Any, ...]:
        """Where the fold is (for `back_to`): a fold tried and not taken leaves no trace."""
        return (self.version, self.status, self.position, self.counter, self.eta, self.queue_status)

    def back_to(self, mark: tuple[Any, ...]) -> None:
        (self.version, self.status, self.position, self.counter, self.eta, self.queue_status) = mark

    def fold(self, message: dict[str, Any]) -> Fold:
        changes = [c for c in message.get("changes", []) if c["version"] > self.version]
        if not changes:
            return Fold([], False, int(message.get("version", 0)) > self.version)
        if changes[0]["version"] != self.version + 1:
            return Fold([], False, True)  # a message we never got: the fold would be wrong
        steps: list[Step] = []
        touched = reread = False
        eta = (message.get("etas") or {}).get(self.ticket_id)
        if eta is not None:
            self.eta = eta
        queue_status = (message.get("view") or {}).get("status")
        paused_or_resumed = queue_status is not None and queue_status != self.queue_status
        if paused_or_resumed:
            self.queue_status = queue_status
        for change in changes:
            before = (self.status, self.position, self.counter)
            if change.get("ticket_id") == self.ticket_id:
                touched = True
                self.status = change.get("status") or self.status
                self.counter = change.get("counter")
                if change.get("joined") is not None:
                    self.position = change["joined"]
                elif self.status != "waiting":
                    self.position = None
            elif change.get("ticket_id") is not None and self.position is not None:
                left, joined = change.get("left"), change.get("joined")
                if left is not None and left < self.position:
                    self.position -= 1
                if joined is not None and joined <= self.position:
                    self.position += 1
            elif change.get("ticket_id") is None and change.get("type") == "QueueReconfigured":
                reread = True  # class ranks changed: the whole line may have reordered
            self.version = change["version"]
            if (self.status, self.position, self.counter) != before:
                steps.append(Step(self.version, self.status, self.position, self.counter, touched))
        if (eta is not None or paused_or_resumed) and not steps and self.status == "waiting":
            # Only the range or the queue's status moved (the line did not, around this
            # ticket): show it.
            steps.append(Step(self.version, self.status, self.position, self.counter, False))
        return Fold(steps, touched, reread or int(message["version"]) > self.version)

    def views(
        self, fold: Fold, fresh: dict[str, Any] | None, now: datetime
    ) -> list[dict[str, Any]]:
        """The views to emit; `fresh` (read after the batch) gives the ticket's own new fields
        (called_at...), its status, counter and position always come from the fold, its wait
        range from the messages."""
        if fresh is not None and fresh["queue_id"] != self.view["queue_id"]:
            fresh = None  # transferred meanwhile: that view belongs to the other queue
        out = []
        for step in fold.steps:
            base = fresh if step.own and fresh is not None else self.view
            self.view = {
                **base,
                "status": step.status,
                "counter": step.counter,
                "position": step.position,
                "version": step.version,
                "people_ahead": None if step.position is None else step.position - 1,
                "estimate": shown(self.eta, now) if step.status == "waiting" else None,
                "queue_status": self.queue_status if step.status == "waiting" else None,
            }
            out.append(self.view)
        return out
