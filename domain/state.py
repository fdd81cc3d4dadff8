"""The state a queue's events fold into, and the read-only questions asked of it.

The state is mutable on purpose: `evolve` updates it in place so folding a long stream costs
O(log n) per event instead of a copy of the line per event. `decide` only reads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from sortedcontainers import SortedList

from domain.config import QueueConfig
from domain.events import LeftBy, PersonalData, QueueStatus

TicketStatus = Literal[
    "waiting", "called", "serving", "served", "no_show", "cancelled", "transferred"
]
ACTIVE_STATUSES: frozenset[str] = frozenset({"called", "serving"})
FINISHED_STATUSES: frozenset[str] = frozenset({"served", "no_show", "cancelled", "transferred"})

# Finished tickets kept for look-ups (status pages, returns, duplicate ids). Oldest finished first
# out, so memory stays bounded and every fold of the same events keeps the same ones.
FINISHED_RETENTION = 5000

# (priority rank, order_at, seq, ticket_id): the first three are `policy.order_key`; the id rides
# along so the line maps back to tickets. `seq` is unique, so the id never breaks a tie.
LineKey = tuple[int, datetime, int, str]


@dataclass(slots=True, kw_only=True)
class TicketState:
    ticket_id: str
    number: str
    daily_number: int
    seq: int
    priority: str
    service_type: str | None
    channel: str
    personal: PersonalData | None  # sealed: the fold never opens it
    metadata: dict[str, str] = field(default_factory=dict)
    language: str | None = None
    status: TicketStatus = "waiting"
    # When the customer first joined (kept across transfers).
    enqueued_at: datetime
    # The time that orders it within its class.
    order_at: datetime
    # When it entered its current class; aging counts from here.
    class_since: datetime
    counter: str | None = None
    called_at: datetime | None = None
    recall_count: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # Where a transferred ticket went (status "transferred") and where it came from, if it did.
    transferred_to: str | None = None
    transferred_from: str | None = None
    # It was enqueued in this queue (even if it left and came back by transfer): the queue a
    # read model treats as the ticket's home.
    enqueued_here: bool = False
    # Who ended it when it was cancelled (TicketCancelled.by): the person, staff, or the
    # queue's close that sent those still waiting home; its page says it in those words.
    cancelled_by: LeftBy | None = None


AppointmentStatus = Literal["booked", "checked_in", "cancelled", "transferred"]


@dataclass(slots=True, kw_only=True)
class Appointment:
    """A booking (domain/appointments.py). Missed is not a status: a booking still `booked` once
    check-in has closed (its slot plus the grace) is a no-show, whoever looks."""

    appointment_id: str
    slot_at: datetime
    service_type: str | None
    priority: str
    channel: str
    language: str | None = None
    personal: PersonalData | None = None
    status: AppointmentStatus = "booked"
    ticket_id: str | None = None  # its ticket once checked in
    booked_at: datetime


def _new_line() -> SortedList:
    return SortedList()


@dataclass(slots=True, kw_only=True)
class QueueState:
    queue_id: str
    tenant_id: str = ""
    created: bool = False
    created_at: datetime | None = None
    config: QueueConfig = field(default_factory=lambda: QueueConfig(name=""))
    status: QueueStatus = "closed"
    # Number of events folded: the stream version this state reflects.
    version: int = 0
    tickets: dict[str, TicketState] = field(default_factory=dict)
    # The waiting line in policy order, as LineKeys.
    waiting: SortedList = field(default_factory=_new_line)
    # The last daily number handed out, and the local day it belongs to.
    daily_number: int = 0
    daily_day: date | None = None
    next_seq: int = 1
    # Per counter, the tickets called or being served there, oldest call first.
    at_counters: dict[str, list[str]] = field(default_factory=dict)
    # Finished ticket ids in the order they finished (the retention order).
    finished: dict[str, None] = field(default_factory=dict)
    # Tickets that ever joined ("arrived") or ended each way, since the queue was created.
    totals: dict[str, int] = field(default_factory=dict)
    # The finished tickets the last event evicted (read models drop them too). Not a snapshot field.
    last_evicted: list[str] = field(default_factory=list)
    # Bookings by id: those to come, and those of the last day (older ones are forgotten).
    appointments: dict[str, Appointment] = field(default_factory=dict)
    # Per counter, its break under way or planned: (starts, ends) (domain/breaks.py).
    breaks: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    # priority class -> rank, derived from the config (cached: the line key needs it per event).
    ranks: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.ranks = {p: i for i, p in enumerate(self.config.priority_classes)}

    @property
    def waiting_count(self) -> int:
        return len(self.waiting)


def initial_state(queue_id: str) -> QueueState:
    return QueueState(queue_id=queue_id)


def line_key(state: QueueState, ticket: TicketState) -> LineKey:
    rank = state.ranks.get(ticket.priority, len(state.ranks))
    return (rank, ticket.order_at, ticket.seq, ticket.ticket_id)


def position(state: QueueState, ticket_id: str) -> int | None:
    """1-based place in the waiting line, None when the ticket is not waiting. O(log n)."""
    ticket = state.tickets.get(ticket_id)
    if ticket is None or ticket.status != "waiting":
        return None
    index: int = state.waiting.index(line_key(state, ticket))
    return index + 1


def waiting_ids(state: QueueState) -> list[str]:
    """Waiting ticket ids in policy order."""
    return [key[3] for key in state.waiting]


def _matches(ticket: TicketState, service_types: frozenset[str] | None) -> bool:
    return service_types is None or ticket.service_type in service_types


def next_ticket(
    state: QueueState, service_types: Iterable[str] | None = None
) -> TicketState | None:
    """The first waiting ticket in policy order, of one of `service_types` when given.

    A filter only matches tickets that have one of its service types; an empty filter is no
    filter. Without a filter this is O(1); with one it walks the line until a match.
    """
    wanted = frozenset(service_types) if service_types else None
    for key in state.waiting:
        ticket = state.tickets[key[3]]
        if _matches(ticket, wanted):
            return ticket
    return None


def now_serving(state: QueueState) -> dict[str, str]:
    """counter -> the ticket most recently called there that is still called or being served."""
    return {counter: ids[-1] for counter, ids in state.at_counters.items() if ids}
