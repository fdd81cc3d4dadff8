"""A queue's configuration: the value every policy decision reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DEFAULT_PRIORITY_CLASSES: tuple[str, ...] = ("emergency", "urgent", "vip", "normal")

TransferPolicy = Literal["keep_enqueue_time", "back_of_line"]
# Calling at a counter whose previous person is still called or being served: "refuse" (the
# counter closes that visit first), or "close_previous" (a called person who never came is a
# no-show, one being served is served, then the call goes ahead).
BusyCounterPolicy = Literal["refuse", "close_previous"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OpeningHours:
    """One opening interval on one weekday (0 = Monday), in the queue's time zone.

    `opens` and `closes` are "HH:MM"; `closes` after `opens` (no interval spans midnight: split it).
    """

    weekday: int
    opens: str
    closes: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentSettings:
    """Bookable slots (domain/appointments.py). Slots start every `slot_minutes` from midnight in
    the queue's time zone, inside its opening hours; each takes `per_slot` bookings.

    The rule that joins a booking to the live line: a booking checked in stands in its class's
    line as if it had joined `lead_minutes` before its slot. Whoever joined earlier is still ahead
    of it, whoever joins later is behind it; so a walk-in is passed only by bookings whose slots
    fall within `lead_minutes` after it joined, or `grace_minutes` before (at most
    `per_slot * (ceil((lead + grace) / slot) + 1)` of them), and nobody who joined after
    `slot - lead` is ever called before a booking checked in on time.
    """

    slot_minutes: int = 15
    per_slot: int = 1
    lead_minutes: int = 10
    # Check-in opens this long before the slot and closes this long after it starts: a booking
    # not checked in by then is missed (a no-show).
    early_minutes: int = 60
    grace_minutes: int = 10
    # Bookable this many days ahead.
    horizon_days: int = 60


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConfig:
    name: str
    prefix: str = "A"
    service_types: tuple[str, ...] = ()
    counters: tuple[str, ...] = ("1",)
    # Most tickets waiting at once; None means unbounded.
    capacity: int | None = None
    # Highest class first. A ticket's class decides its place before its arrival time does.
    priority_classes: tuple[str, ...] = DEFAULT_PRIORITY_CLASSES
    default_priority: str = "normal"
    timezone: str = "UTC"
    # Empty means open around the clock.
    opening_hours: tuple[OpeningHours, ...] = ()
    allow_outside_hours: bool = False
    # A waiting ticket is promoted one class up each time it has waited this long in its class.
    aging_after_seconds: int | None = None
    # Highest class aging can reach; None means the second-highest class (aging never makes an
    # emergency out of anybody).
    aging_max_priority: str | None = None
    no_show_grace_seconds: int = 600
    transfer_policy: TransferPolicy = "keep_enqueue_time"
    busy_counter_policy: BusyCounterPolicy = "refuse"
    # Service level target (analytics) and the expected service time a manager may set: the
    # estimates' first guess on a new queue (0, the default: not set, a neutral guess).
    target_wait_seconds: int = 900
    mean_service_seconds: int = 0
    metadata: dict[str, str] = field(default_factory=dict)
    # The organisation's location the queue belongs to ("Downtown"): queues of one site are seen,
    # and in an emergency closed, together. None: no site named.
    site: str | None = None
    # Appointments: None, the default, takes none (walk-ins only).
    appointments: AppointmentSettings | None = None
