"""Domain events: facts, named in the past tense, each with a stable type name and version.

These are plain frozen values. The event store's envelope adds the event id, tenant, queue, stream
version, command and correlation ids and the actor; the Avro records in `schemas/` mirror these
payloads field by field (see `schemas/codec.py` for the explicit mapping). Every event carries `at`,
the moment it happened according to the injected clock, so that folding never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Literal

from domain.config import QueueConfig
from domain.events_counter import CounterBreakSet as CounterBreakSet

QueueStatus = Literal["open", "paused", "closed"]
CancelledBy = Literal["customer", "staff"]
# A ticket's cancel names who: the person, staff, or the queue's close that sent those still
# waiting home (`CloseQueue.cancel_waiting`), which the person is told in other words.
LeftBy = Literal["customer", "staff", "closing"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact:
    """How to reach a customer, in the clear: what events before version 3 of TicketEnqueued
    and TicketTransferredIn carried. No event is written with one any more (`PersonalData`)."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonalData:
    """A person's details (name, phone, e-mail, a note), sealed under a key of their own that is
    kept outside the event log (`privacy/`). Events carry only this: destroying the key erases
    the person from every copy of every event (crypto-shredding) and the fold, which never
    reads it, stays the same."""

    key_id: str  # the key's id in the key store (a UUID)
    sealed: str  # base64 of a 12-byte nonce and the AES-256-GCM ciphertext


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCreated:
    TYPE: ClassVar[str] = "QueueCreated"
    # v2 added `config.busy_counter_policy`; v3 `config.site`; v4 `config.appointments`
    VERSION: ClassVar[int] = 4
    queue_id: str
    tenant_id: str
    config: QueueConfig
    status: QueueStatus
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueReconfigured:
    """The whole new configuration, never a patch: a reader needs no earlier event to use it;
    and why it was changed, where the person who changed it said (e.g. the suggestion confirmed).
    """

    TYPE: ClassVar[str] = "QueueReconfigured"
    # v2 added `config.busy_counter_policy`; v3 `reason`; v4 `config.site`; v5 `appointments`
    VERSION: ClassVar[int] = 5
    config: QueueConfig
    at: datetime
    reason: str | None = None  # last, as in the Avro schema (a new version appends its fields)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueOpened:
    TYPE: ClassVar[str] = "QueueOpened"
    VERSION: ClassVar[int] = 1
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuePaused:
    TYPE: ClassVar[str] = "QueuePaused"
    VERSION: ClassVar[int] = 1
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueResumed:
    TYPE: ClassVar[str] = "QueueResumed"
    VERSION: ClassVar[int] = 1
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueClosed:
    TYPE: ClassVar[str] = "QueueClosed"
    VERSION: ClassVar[int] = 1
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketEnqueued:
    """A ticket joins the line. `seq` orders tickets of one class that arrive at the same time."""

    TYPE: ClassVar[str] = "TicketEnqueued"
    VERSION: ClassVar[int] = 3  # v2 added `language`; v3 `personal` (and stopped writing `contact`)
    ticket_id: str
    number: str  # human-readable, e.g. "A-042"
    daily_number: int  # 42: numbers restart at 1 each day in the queue's time zone
    seq: int
    priority: str
    service_type: str | None
    channel: str  # kiosk, web, phone, qr, api
    contact: Contact | None = None  # never written since v3 (older events read None too)
    metadata: dict[str, str] = field(default_factory=dict)
    # Preferred language for announcements and notifications (BCP 47), if the customer gave one.
    language: str | None = None
    personal: PersonalData | None = None
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketCalled:
    """A ticket is called to a counter: next in policy order, or picked by staff (`override`)."""

    TYPE: ClassVar[str] = "TicketCalled"
    VERSION: ClassVar[int] = 1
    ticket_id: str
    counter: str
    override: bool
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketRecalled:
    TYPE: ClassVar[str] = "TicketRecalled"
    VERSION: ClassVar[int] = 1
    ticket_id: str
    counter: str
    recall_count: int
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceStarted:
    TYPE: ClassVar[str] = "ServiceStarted"
    VERSION: ClassVar[int] = 1
    ticket_id: str
    counter: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketServed:
    TYPE: ClassVar[str] = "TicketServed"
    VERSION: ClassVar[int] = 1
    ticket_id: str
    counter: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketNoShow:
    TYPE: ClassVar[str] = "TicketNoShow"
    VERSION: ClassVar[int] = 1
    ticket_id: str
    counter: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketCancelled:
    TYPE: ClassVar[str] = "TicketCancelled"
    VERSION: ClassVar[int] = 1
    ticket_id: str
    by: LeftBy
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketReturned:
    """A no-show comes back within the grace period and rejoins the back of its class."""

    TYPE: ClassVar[str] = "TicketReturned"
    VERSION: ClassVar[int] = 1
    ticket_id: str
    seq: int
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketPriorityChanged:
    TYPE: ClassVar[str] = "TicketPriorityChanged"
    VERSION: ClassVar[int] = 1
    ticket_id: str
    from_priority: str
    to_priority: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketPromoted:
    """Aging: a ticket that waited past the queue's bound moves one class up."""

    TYPE: ClassVar[str] = "TicketPromoted"
    VERSION: ClassVar[int] = 1
    ticket_id: str
    from_priority: str
    to_priority: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketTransferredOut:
    TYPE: ClassVar[str] = "TicketTransferredOut"
    VERSION: ClassVar[int] = 1
    ticket_id: str
    to_queue_id: str
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketTransferredIn:
    """The same ticket id joins another queue of the tenant: with a number of that queue (a
    transfer), or with the number it had (a merge or a split: `MoveWaiting`).

    `order_at` is where it stands in its class: its original enqueue time when the receiving queue
    keeps it (fairness), or the transfer time when the receiving queue sends it to the back.
    """

    TYPE: ClassVar[str] = "TicketTransferredIn"
    VERSION: ClassVar[int] = 3  # v2 added `language`; v3 `personal` (and stopped writing `contact`)
    ticket_id: str
    from_queue_id: str
    number: str
    daily_number: int
    seq: int
    priority: str
    service_type: str | None
    channel: str
    contact: Contact | None = None  # never written since v3 (older events read None too)
    metadata: dict[str, str] = field(default_factory=dict)
    language: str | None = None
    original_enqueued_at: datetime
    order_at: datetime
    personal: PersonalData | None = None  # the person's sealed details, as enqueued
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentBooked:
    """A slot is booked: the person will come at `slot_at` (domain/appointments.py)."""

    TYPE: ClassVar[str] = "AppointmentBooked"
    VERSION: ClassVar[int] = 1
    appointment_id: str
    slot_at: datetime
    service_type: str | None
    priority: str
    channel: str
    language: str | None = None
    personal: PersonalData | None = None
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentRescheduled:
    TYPE: ClassVar[str] = "AppointmentRescheduled"
    VERSION: ClassVar[int] = 1
    appointment_id: str
    slot_at: datetime
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentCancelled:
    TYPE: ClassVar[str] = "AppointmentCancelled"
    VERSION: ClassVar[int] = 1
    appointment_id: str
    by: CancelledBy
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentCheckedIn:
    """The person with a booking is here: their ticket joins the line at `order_at`, the slot
    less the queue's lead (AppointmentSettings), whenever they check in."""

    TYPE: ClassVar[str] = "AppointmentCheckedIn"
    VERSION: ClassVar[int] = 1
    appointment_id: str
    ticket_id: str
    number: str
    daily_number: int
    seq: int
    priority: str
    service_type: str | None
    channel: str
    language: str | None = None
    personal: PersonalData | None = None
    slot_at: datetime
    order_at: datetime
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentTransferredOut:
    """A booking still to come left this queue for another of the tenant (a merge, a split, a
    site closed): it keeps its id, token and slot."""

    TYPE: ClassVar[str] = "AppointmentTransferredOut"
    VERSION: ClassVar[int] = 1
    appointment_id: str
    to_queue_id: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentTransferredIn:
    TYPE: ClassVar[str] = "AppointmentTransferredIn"
    VERSION: ClassVar[int] = 1
    appointment_id: str
    from_queue_id: str
    slot_at: datetime
    service_type: str | None
    priority: str
    channel: str
    language: str | None = None
    personal: PersonalData | None = None
    at: datetime


QueueEvent = (
    QueueCreated
    | QueueReconfigured
    | QueueOpened
    | QueuePaused
    | QueueResumed
    | QueueClosed
    | TicketEnqueued
    | TicketCalled
    | TicketRecalled
    | ServiceStarted
    | TicketServed
    | TicketNoShow
    | TicketCancelled
    | TicketReturned
    | TicketPriorityChanged
    | TicketPromoted
    | TicketTransferredOut
    | TicketTransferredIn
    | AppointmentBooked
    | AppointmentRescheduled
    | AppointmentCancelled
    | AppointmentCheckedIn
    | AppointmentTransferredOut
    | AppointmentTransferredIn
    | CounterBreakSet
)

EVENT_TYPES: dict[str, type[QueueEvent]] = {
    cls.TYPE: cls
    for cls in (
        QueueCreated,
        QueueReconfigured,
        QueueOpened,
        QueuePaused,
        QueueResumed,
        QueueClosed,
        TicketEnqueued,
        TicketCalled,
        TicketRecalled,
        ServiceStarted,
        TicketServed,
        TicketNoShow,
        TicketCancelled,
        TicketReturned,
        TicketPriorityChanged,
        TicketPromoted,
        TicketTransferredOut,
        TicketTransferredIn,
        AppointmentBooked,
        AppointmentRescheduled,
        AppointmentCancelled,
        AppointmentCheckedIn,
        AppointmentTransferredOut,
        AppointmentTransferredIn,
        CounterBreakSet,
    )
}
