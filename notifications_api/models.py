"""Request and response bodies of subscriptions, templates and a queue's defaults.

Where what is valid depends on another field (an address on its channel), the body is a union
told apart by that field, so the OpenAPI document states exactly what the server accepts.
(The subscription bodies live in command_api.models: an enqueue takes them too.)
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from command_api.fields import StrictModel
from command_api.models import Language
from http_api.formats import VISIBLE, WEB_URL
from notifications.templates import CHANNELS as TEMPLATE_CHANNELS
from notifications.templates import MAX_BODY_BYTES, MAX_SUBJECT_CHARS, TOPICS

if TYPE_CHECKING:
    Topic = str
    TextChannel = str
    VariableName = str
else:  # enums in the document: what the product has templates for
    Topic = Literal[tuple(TOPICS)]
    VariableName = Literal[tuple(sorted(set().union(*TOPICS.values())))]
    TextChannel = Literal[tuple(c for c in TEMPLATE_CHANNELS if c != "email")]

WebUrl = Annotated[
    str,
    StringConstraints(max_length=1000, pattern=WEB_URL),
]
# More than whitespace.
_VISIBLE = VISIBLE
TemplateText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_BODY_BYTES, pattern=_VISIBLE)
]
# One line, more than whitespace.
Subject = Annotated[
    str,
    StringConstraints(max_length=MAX_SUBJECT_CHARS, pattern=rf"^[^\r\n]*{_VISIBLE}[^\r\n]*$"),
]
Scalar = str | int | float | bool | None


# -- subscriptions --------------------------------------------------------------------------------


class WhenOut(BaseModel):
    ahead: int | None = Field(description="People ahead; null: not told")
    eta_minutes: int | None = Field(description="Minutes before the estimated call; null: not told")
    called: bool
    recalled: bool
    returned: bool
    missed: bool
    moved: bool
    paused: bool
    resumed: bool
    closed: bool
    served: bool
    cancelled: bool
    subscribed: bool = Field(description="Told at once, as it was made, where the ticket stood")


class SubscriptionOut(BaseModel):
    subscription_id: str
    ticket_id: str
    queue_id: str
    channel: str
    address: str = Field(description="Masked: +44770****123, j***@example.com, push:<service>")
    language: str
    when: WhenOut
    created_at: datetime


class SubscriptionList(BaseModel):
    subscriptions: list[SubscriptionOut]


class VapidKeyOut(BaseModel):
    public_key: str = Field(description="`applicationServerKey` for `PushManager.subscribe()`")


# -- templates ------------------------------------------------------------------------------------


class _TemplateBase(StrictModel):
    model_config = ConfigDict(str_max_length=MAX_BODY_BYTES)

    queue_id: uuid.UUID | None = Field(
        default=None, description="The queue's own; leave out for the tenant's (every queue)"
    )
    topic: Topic
    language: Language
    body: TemplateText = Field(description="Jinja2 text: variables, if, filters; no loops or calls")


class EmailTemplateIn(_TemplateBase):
    channel: Literal["email"]
    subject: Subject


class TextTemplateIn(_TemplateBase):
    """The short text of an SMS, a WhatsApp or push message, a chat post (no subject)."""

    channel: TextChannel


TemplateIn = Annotated[EmailTemplateIn | TextTemplateIn, Field(discriminator="channel")]


class TemplateOut(BaseModel):
    template_id: str
    queue_id: str | None
    topic: str
    channel: str
    language: str
    subject: str | None
    body: str
    updated_at: datetime


class TemplateList(BaseModel):
    templates: list[TemplateOut]


class _PreviewBase(StrictModel):
    model_config = ConfigDict(str_max_length=MAX_BODY_BYTES)

    topic: Topic
    language: Language = "en"
    queue_id: uuid.UUID | None = None
    body: TemplateText | None = Field(
        default=None, description="The text to try; leave out for the template in use"
    )
    data: Annotated[dict[VariableName, Scalar], Field(max_length=50)] | None = Field(
        default=None, description="Values over the sample ones (number, queue_name...)"
    )


class EmailPreviewIn(_PreviewBase):
    channel: Literal["email"]
    subject: Subject | None = Field(
        default=None, description="The subject to try; leave out for the one in use"
    )


class TextPreviewIn(_PreviewBase):
    channel: TextChannel


PreviewIn = Annotated[EmailPreviewIn | TextPreviewIn, Field(discriminator="channel")]


class PreviewOut(BaseModel):
    subject: str | None
    text: str


# -- a queue's defaults ---------------------------------------------------------------------------


class NotifySettingsIn(StrictModel):
    ahead: Annotated[int, Field(ge=0, le=9)] = Field(
        default=3, description="People ahead, for subscribers who do not choose"
    )
    eta_minutes: Annotated[int, Field(ge=1, le=120)] | None = Field(
        default=None, description="Minutes before the estimated call; null: not told"
    )
    feedback_url: WebUrl | None = Field(
        default=None,
        description="Sent after service to subscribers who asked for it (`when.served`)",
    )


class NotifySettingsOut(BaseModel):
    queue_id: str
    ahead: int
    eta_minutes: int | None
    feedback_url: str | None
