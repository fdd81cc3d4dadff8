"""Request and response bodies of webhook endpoints, their delivery log and replays.

An endpoint's secret is in two answers only: the one that makes the endpoint, and
`GET .../secret` (and a rotation's, which makes a new one). Never in a URL.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StringConstraints

from command_api.fields import StrictModel
from domain.events import EVENT_TYPES
from http_api.formats import Moment
from notifications.store.log import STATUSES

# What an endpoint may ask for: the queue events (schemas/*.avsc) and the derived position
# changes (schemas/derived/TicketPositionChanged.*.avsc).
KNOWN_EVENT_TYPES: tuple[str, ...] = (*sorted(EVENT_TYPES), "TicketPositionChanged")

if TYPE_CHECKING:
    EventType = str
    DeliveryStatus = str
else:
    EventType = Literal[KNOWN_EVENT_TYPES]
    DeliveryStatus = Literal[STATUSES]


def _distinct(names: list[str]) -> list[str]:
    if len(set(names)) != len(names):
        raise ValueError("each event type once")
    return names


EventTypes = Annotated[
    list[EventType],
    AfterValidator(_distinct),
    Field(max_length=len(KNOWN_EVENT_TYPES), json_schema_extra={"uniqueItems": True}),
]
# http(s), a host (a name, an IPv4 or a bracketed IPv6 literal), no credentials (no `@` before
# the path), a path and query of printable ASCII (anything else percent-encoded; spelled as explicit
# ranges, not `\s`, which regex engines read differently). Where the host may be is the server's
# to say (a private address is a 422).
WebhookUrl = Annotated[
    str,
    StringConstraints(
        max_length=2000,
        pattern=r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?([/?][\x21\x22\x24-\x7e]*)?$",
    ),
]
Description = Annotated[str, StringConstraints(max_length=500)]
Rate = Annotated[int, Field(ge=1, le=1000)]


class EndpointIn(StrictModel):
    url: WebhookUrl
    description: Description = ""
    event_types: EventTypes = Field(default_factory=list, description="Empty: every type")
    rate_per_s: Rate = Field(default=50, description="At most this many requests a second")


class EndpointPatchIn(StrictModel):
    """Only the fields given change (null: unchanged; `event_types: []`: every type)."""

    url: WebhookUrl | None = None
    description: Description | None = None
    event_types: EventTypes | None = None
    rate_per_s: Rate | None = None


class EndpointOut(BaseModel):
    endpoint_id: str
    url: str
    description: str
    event_types: list[str]
    rate_per_s: int
    disabled_at: datetime | None
    disabled_reason: str | None
    failing_since: datetime | None
    previous_secret_until: datetime | None = Field(
        description="During a rotation: until when the previous secret signs too"
    )
    created_at: datetime


class EndpointCreatedOut(EndpointOut):
    secret: str = Field(description="whsec_...: verify signatures with it (Standard Webhooks)")


class EndpointList(BaseModel):
    endpoints: list[EndpointOut]


class SecretOut(BaseModel):
    endpoint_id: str
    secret: str
    previous_secret_until: datetime | None


class PingOut(BaseModel):
    message_id: str = Field(description="Also its `webhook-id`")


class AttemptOut(BaseModel):
    replay: int = Field(description="0: the first round of attempts; n: after the n-th replay")
    attempt: int
    at: datetime
    outcome: str = Field(description="delivered, failed, refused, gone")
    status: int | None = Field(description="The HTTP status answered")
    seconds: float | None
    excerpt: str = Field(description="The first bytes of the answer")


class DeliveryOut(BaseModel):
    message_id: str
    topic: str
    status: str = Field(description="sending, delivered, retrying, dead, replaying")
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    history: list[AttemptOut] = Field(description="Every attempt, first first")


class DeliveryLogOut(BaseModel):
    endpoint_id: str
    deliveries: list[DeliveryOut] = Field(description="Newest first")


class ReplayMessageIn(StrictModel):
    message_id: Annotated[str, StringConstraints(min_length=1, max_length=300)]


class ReplaySinceIn(StrictModel):
    since: Moment
    dead_only: StrictBool = Field(default=False, description="Only the dead letters")


ReplayIn = ReplayMessageIn | ReplaySinceIn


class ReplayOut(BaseModel):
    replayed: int
