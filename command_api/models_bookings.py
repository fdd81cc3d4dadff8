"""The body of a booking (command_api/routes_appointments.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from command_api.fields import Channel, ContactIn, Label, StrictModel
from command_api.models import CommandOut, SubscriptionIn
from http_api.formats import Moment

Language = Annotated[str, Field(pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")]


class AppointmentIn(StrictModel):
    slot_at: Moment = Field(
        description="The slot's start, with an offset (GET /v1/queues/{id}/slots lists them)"
    )
    service_type: Label | None = None
    priority: Label | None = None
    channel: Channel = "api"
    contact: ContactIn | None = Field(
        default=None, description="The person's details: sealed, erasable (docs/privacy.md)"
    )
    language: Language | None = None
    notify: Annotated[list[SubscriptionIn], Field(max_length=4)] | None = Field(
        default=None,
        description="Subscriptions to make on the booking (its ticket's once checked in: the "
        "usual messages follow then), each reminded `remind_minutes` before the slot",
    )
    remind_minutes: Annotated[int, Field(ge=0, le=10080)] = Field(
        default=60,
        description="How long before the slot the reminder goes (booked later than that: at once)",
    )


class BookedOut(CommandOut):
    appointment_id: str = Field(description="The booking's id (its ticket's once checked in)")
    slot_at: str = Field(description="The slot booked")
    token: str = Field(description="The booking's own token: the person's key to it")
    subscriptions: list[str] | None = Field(
        default=None, description="The ids of the subscriptions `notify` made (only with `notify`)"
    )
