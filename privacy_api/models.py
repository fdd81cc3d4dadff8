"""The bodies and answers of the personal-data routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from command_api.fields import StrictModel
from command_api.models import Email

# As a person's details take it (any usual spelling: spaces, dashes, brackets); compared by digits.
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()./-]{3,32}$")]


class ByTicket(StrictModel):
    ticket_id: uuid.UUID


class ByEmail(StrictModel):
    email: Email


class ByPhone(StrictModel):
    phone: Phone


# Exactly one way to name the person (each body allows one field, no other).
PersonIn = ByTicket | ByEmail | ByPhone


class DetailsOut(BaseModel):
    name: str | None
    phone: str | None
    email: str | None
    note: str | None


class SubscriptionHeld(BaseModel):
    subscription_id: str
    channel: str
    address: str
    language: str
    created_at: datetime
    cancelled_at: datetime | None


class TicketDataOut(BaseModel):
    ticket_id: str
    queue_id: str | None  # the queue that holds it now
    details: DetailsOut | None  # what the person gave at enqueue (None: nothing, or erased)
    details_erased_at: datetime | None
    subscriptions: list[SubscriptionHeld]


class PersonalDataOut(BaseModel):
    tickets: list[TicketDataOut]


class ErasureOut(BaseModel):
    tickets: list[str]  # every ticket of the person
    keys_destroyed: list[str]  # those whose key this request destroyed (none: erased before)
    subscriptions_removed: int
