"""Commands: orders given to a queue. Ids a command creates are chosen by the caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.config import QueueConfig
from domain.events import CancelledBy, PersonalData, QueueStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateQueue:
    queue_id: str
    tenant_id: str
    config: QueueConfig
    status: QueueStatus = "open"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconfigureQueue:
    config: QueueConfig
    reason: str | None = None  # why: kept on the QueueReconfigured event


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeQueueSettings:
    """Only the settings named, applied to the configuration the queue has when the command's
    turn comes: two managers changing different settings at once both land."""

    changes: tuple[tuple[str, object], ...]
    reason: str | None = None  # why: kept on the QueueReconfigured event


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenQueue:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class PauseQueue:
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeQueue:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseQueue:
    reason: str | None = None
    # Also cancel everyone still waiting (by staff, with the close's reason), in line order,
    # before the close: the end of a day that cannot serve them. Those called stay at their
    # counters. On a queue closed already it cancels those still waiting (and closes nothing).
    cancel_waiting: bool = False


# The metadata entry the API sets on a ticket it routed to the best queue (`POST
# /v1/routing/tickets`); the analytics count those tickets' waits apart.
ROUTED_METADATA = "routed"


@dataclass(frozen=True, slots=True, kw_only=True)
class EnqueueTicket:
    ticket_id: str
    priority: str | None = None  # None: the queue's default class
    service_type: str | None = None
    channel: str = "api"
    # The person's details, sealed by the service layer (privacy/) before the command is given.
    personal: PersonalData | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    language: str | None = None
    # Staff may let somebody in outside opening hours; kiosks may not.
    allow_outside_hours: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CallNext:
    counter: str
    # Only tickets of these service types (a counter that serves some services only); None: any.
    service_types: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallTicket:
    """Staff override: call this ticket out of policy order."""

    ticket_id: str
    counter: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecallTicket:
    ticket_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StartService:
    ticket_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CompleteService:
    ticket_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkNoShow:
    ticket_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTicket:
    ticket_id: str
    by: CancelledBy = "staff"
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReturnTicket:
    ticket_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangePriority:
    ticket_id: str
    priority: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PromoteAgedTickets:
    """Issued by the write side's scheduler; promotes every ticket past the aging bound."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferTicket:
    ticket_id: str
    to_queue_id: str
    service_type: str | None = None  # None: keep the ticket's own
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MoveWaiting:
    """A merge or a split: the people waiting in one queue (all of them, or those of some service
    types) move to another queue of the tenant in one command, each keeping its number and its
    place in its class (its priority and the time it stands in line by); a merge closes the
    queue it empties. Those already called stay at their counters."""

    to_queue_id: str
    service_types: tuple[str, ...] | None = None  # None: everyone waiting (a merge)
    close: bool = False  # close this queue to newcomers once it is emptied
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BookAppointment:
    appointment_id: str
    slot_at: datetime
    service_type: str | None = None
    priority: str | None = None  # None: the queue's default class
    channel: str = "api"
    personal: PersonalData | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RescheduleAppointment:
    appointment_id: str
    slot_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelAppointment:
    appointment_id: str
    by: CancelledBy = "customer"
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckInAppointment:
    appointment_id: str
    ticket_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetCounterBreak:
    """The counter steps away from `starts_at`, or `starts_in` minutes from now (at most one;
    neither: now), and is back at `ends_at`, or `minutes` after the break starts (one of the
    two)."""

    counter: str
    ends_at: datetime | None = None
    minutes: int | None = None
    starts_at: datetime | None = None
    starts_in: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EndCounterBreak:
    """The counter is back now (or its planned break is dropped)."""

    counter: str


QueueCommand = (
    BookAppointment
    | RescheduleAppointment
    | CancelAppointment
    | CheckInAppointment
    | CreateQueue
    | ReconfigureQueue
    | ChangeQueueSettings
    | OpenQueue
    | PauseQueue
    | ResumeQueue
    | CloseQueue
    | EnqueueTicket
    | CallNext
    | CallTicket
    | RecallTicket
    | StartService
    | CompleteService
    | MarkNoShow
    | CancelTicket
    | ReturnTicket
    | ChangePriority
    | PromoteAgedTickets
    | SetCounterBreak
    | EndCounterBreak
)
