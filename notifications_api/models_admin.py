"""Request and response bodies of alerts and schedules.

An alert or a summary goes by email (an address) or to a chat tool (its incoming-webhook URL); a
schedule fires once (at a moment) or daily (at a wall-clock time in its zone). Each combination is
its own body, told apart by `channel`, `kind` and `recurrence`, so the document says which fields
go together and the server refuses nothing the document allows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, StringConstraints, Tag

from command_api.fields import StrictModel
from command_api.models import Email, Language
from http_api.formats import VISIBLE, Moment, TimeZone
from notifications_api.models_webhooks import WebhookUrl

Condition = Literal[
    "joined_empty_queue",
    "p90_over_target",
    "counter_idle",
    "accuracy_degraded",
    "delivery_failures",
    "unusual_arrivals",
    "bottleneck",
]
# A chat tool's incoming webhook, called as webhooks are (the same URLs refused: no credentials in
# it, nothing aimed inside; notifications/urls.py).
ChatUrl = WebhookUrl
LocalTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
# More than whitespace.
Text = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=VISIBLE)]

_CHAT = (
    "A Slack-style incoming-webhook URL (Slack, Mattermost, Rocket.Chat, Discord's /slack, Teams), "
    "https://hooks.slack.com/services/...; loopback, private and reserved addresses are refused"
)


# -- alerts ---------------------------------------------------------------------------------------


class _AlertBase(StrictModel):
    condition: Condition
    queue_id: uuid.UUID | None = Field(default=None, description="Leave out for every queue")
    threshold: Annotated[float, Field(ge=0, le=1e9)] | None = Field(
        default=None, description="The condition's level, where it has one (else its default)"
    )
    language: Language = "en"


class EmailAlertIn(_AlertBase):
    channel: Literal["email"]
    address: Email


class ChatAlertIn(_AlertBase):
    channel: Literal["chat"]
    address: ChatUrl = Field(description=_CHAT)


AlertIn = Annotated[EmailAlertIn | ChatAlertIn, Field(discriminator="channel")]


class AlertOut(BaseModel):
    alert_id: str
    queue_id: str | None
    condition: str
    threshold: float | None
    channel: str
    address: str = Field(description="A chat URL shows its scheme only (it holds tokens)")
    language: str
    created_at: datetime


class AlertList(BaseModel):
    alerts: list[AlertOut]


# -- schedules ------------------------------------------------------------------------------------


class _ScheduleBase(StrictModel):
    queue_id: uuid.UUID
    time_zone: TimeZone
    language: Language = "en"


class _Once(StrictModel):
    recurrence: Literal["once"]
    at: Moment = Field(description="When it fires (RFC 3339); it must be in the future")


class _Daily(StrictModel):
    recurrence: Literal["daily"]
    local_time: LocalTime = Field(description="HH:MM, wall-clock time in `time_zone`")


class _Announcement(StrictModel):
    kind: Literal["announcement"] = Field(description="To everyone waiting in the queue")
    text: Text


class _EmailSummary(StrictModel):
    kind: Literal["summary"] = Field(description="The queue's day, to a manager")
    channel: Literal["email"]
    address: Email


class _ChatSummary(StrictModel):
    kind: Literal["summary"] = Field(description="The queue's day, to a chat tool")
    channel: Literal["chat"]
    address: ChatUrl = Field(description=_CHAT)


class OnceAnnouncementIn(_ScheduleBase, _Once, _Announcement):
    pass


class OnceEmailSummaryIn(_ScheduleBase, _Once, _EmailSummary):
    pass


class OnceChatSummaryIn(_ScheduleBase, _Once, _ChatSummary):
    pass


class DailyAnnouncementIn(_ScheduleBase, _Daily, _Announcement):
    pass


class DailyEmailSummaryIn(_ScheduleBase, _Daily, _EmailSummary):
    pass


class DailyChatSummaryIn(_ScheduleBase, _Daily, _ChatSummary):
    pass


def _schedule_tag(value: Any) -> str | None:
    """Which of the bodies a request is: by its recurrence, kind and (summaries) channel."""
    names = ("recurrence", "kind", "channel")
    if isinstance(value, dict):
        parts = [value.get(name) for name in names]
    else:
        parts = [getattr(value, name, None) for name in names]
    return "-".join(str(part) for part in parts if part is not None)


# One level of choice (a `oneOf` whose members exclude each other): OpenAPI's `discriminator`
# names one property, and these bodies differ in up to three.
ScheduleIn = Annotated[
    Annotated[OnceAnnouncementIn, Tag("once-announcement")]
    | Annotated[OnceEmailSummaryIn, Tag("once-summary-email")]
    | Annotated[OnceChatSummaryIn, Tag("once-summary-chat")]
    | Annotated[DailyAnnouncementIn, Tag("daily-announcement")]
    | Annotated[DailyEmailSummaryIn, Tag("daily-summary-email")]
    | Annotated[DailyChatSummaryIn, Tag("daily-summary-chat")],
    Discriminator(
        _schedule_tag,
        custom_error_type="schedule_kind",
        custom_error_message="recurrence (once, daily) with kind (announcement, summary) and, for "
        "a summary, channel (email, chat)",
    ),
]


class ScheduleOut(BaseModel):
    schedule_id: str
    queue_id: str
    kind: str
    recurrence: str
    local_time: str | None
    time_zone: str
    next_at: datetime | None = Field(description="The next time it fires (UTC); null: never again")
    channel: str | None
    address: str | None
    language: str
    text: str
    fired: int = Field(description="How many times it fired")
    created_at: datetime


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]
