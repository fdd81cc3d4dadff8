"""The bodies and answers of appointments: a queue's slot settings, a booking, a move."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from command_api.fields import Reason, StrictModel
from http_api.formats import Moment

# The slot lengths that divide a day (1440 minutes), 5 to 240.
SlotMinutes = Literal[
    5,
    6,
    8,
    9,
    10,
    12,
    15,
    16,
    18,
    20,
    24,
    30,
    32,
    36,
    40,
    45,
    48,
    60,
    72,
    80,
    90,
    96,
    120,
    144,
    160,
    180,
    240,
]


class AppointmentSettingsIn(StrictModel):
    """Bookable slots; every part optional (the defaults: 15-minute slots, one booking each, a
    10-minute lead, check-in from an hour before until 10 minutes after, 60 days ahead)."""

    slot_minutes: SlotMinutes = Field(
        default=15,
        description="Slots start every this many minutes from local midnight (a number that "
        "divides a day)",
    )
    per_slot: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=1, description="Bookings one slot takes"
    )
    lead_minutes: Annotated[int, Field(ge=0, le=1440)] = Field(
        default=10,
        description="A booking checked in stands in line as if it had joined this long before "
        "its slot (walk-ins who came earlier stay ahead of it)",
    )
    early_minutes: Annotated[int, Field(ge=0, le=1440)] = Field(
        default=60, description="Check-in opens this long before the slot"
    )
    grace_minutes: Annotated[int, Field(ge=0, le=240)] = Field(
        default=10,
        description="Check-in closes this long after the slot starts: later, the booking is missed",
    )
    horizon_days: Annotated[int, Field(ge=1, le=366)] = Field(
        default=60, description="Bookable this many days ahead"
    )


class RescheduleIn(StrictModel):
    slot_at: Moment = Field(description="The new slot's start, with an offset")


class CancelAppointmentIn(StrictModel):
    reason: Reason | None = None


class AppointmentOut(StrictModel):
    appointment_id: str
    queue_id: str
    slot_at: datetime
    status: str = Field(description="booked, checked_in, cancelled or missed")
    service_type: str | None
    priority: str
    ticket_id: str | None = Field(
        description="Its ticket once checked in (the same id: the booking's token opens it)"
    )
