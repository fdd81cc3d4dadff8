"""HTTP request and response bodies. Mapped to domain commands explicitly in `mapping.py`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StringConstraints,
)

from command_api.fields import (
    HHMM,
    BusyCounterPolicyIn,
    Channel,
    ContactIn,
    Count,
    Label,
    Metadata,
    Name,
    Names,
    Prefix,
    QueueStatusIn,
    Reason,
    StrictModel,
    TransferPolicyIn,
)
from command_api.models_appointments import AppointmentSettingsIn
from http_api.formats import VISIBLE, TimeZone
from http_api.problems import ProblemError
from notifications.outbound import Guard
from notifications.store.subscriptions import Wish
from notifications.templates import LANGUAGES
from notifications.urls import push_refusal


class OpeningHoursIn(StrictModel):
    """One opening interval of a weekday; it must open before it closes (a queue's rule: a 409)."""

    weekday: Annotated[int, Field(ge=0, le=6)] = Field(description="0 = Monday")
    opens: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    closes: HHMM = Field(description="24:00 closes at midnight")


class QueueSettingsIn(StrictModel):
    """Everything about a queue that can be configured; all optional on PATCH."""

    ADDED_LATER = frozenset({"busy_counter_policy", "site", "appointments"})

    prefix: Prefix | None = None
    service_types: Annotated[Names, Field(max_length=50)] | None = None
    counters: Annotated[Names, Field(min_length=1, max_length=200)] | None = None
    capacity: Count | None = None
    priority_classes: Annotated[Names, Field(min_length=1, max_length=10)] | None = Field(
        default=None, description="Highest first"
    )
    default_priority: Label | None = Field(
        default=None, description="One of `priority_classes` (a queue's rule: else a 409)"
    )
    timezone: TimeZone | None = None
    opening_hours: Annotated[list[OpeningHoursIn], Field(max_length=70)] | None = None
    allow_outside_hours: StrictBool | None = None
    aging_after_seconds: Annotated[int, Field(ge=1, le=7 * 86400)] | None = None
    aging_max_priority: Label | None = Field(
        default=None, description="One of `priority_classes` (a queue's rule: else a 409)"
    )
    no_show_grace_seconds: Annotated[int, Field(ge=0, le=86400)] | None = None
    transfer_policy: TransferPolicyIn | None = None
    busy_counter_policy: BusyCounterPolicyIn | None = Field(
        default=None,
        description="A call (next or a given ticket) at a counter whose previous person is "
        "still called or being served: `refuse` (a 409 `counter-busy` naming that ticket; the "
        "counter completes it or marks it a no-show first) or `close_previous` (that person "
        "becomes a no-show, or served if service had started, then the call is made, in one "
        "command). A new queue refuses.",
    )
    target_wait_seconds: Annotated[int, Field(ge=1, le=7 * 86400)] | None = None
    mean_service_seconds: Annotated[int, Field(ge=1, le=86400)] | None = None
    metadata: Metadata | None = None
    site: Label | None = Field(default=None, description="The location (GET /v1/sites); null: none")
    appointments: AppointmentSettingsIn | None = Field(
        default=None, description="Bookable slots (null: walk-ins only, the default)"
    )


class QueueCreateIn(QueueSettingsIn):
    name: Name
    status: QueueStatusIn = "open"


class QueuePatchIn(QueueSettingsIn):
    ADDED_LATER = QueueSettingsIn.ADDED_LATER | {"reason"}

    name: Name | None = None
    # Not a setting: `mapping.settings_patch` names the settings only.
    reason: Reason | None = Field(
        default=None,
        description="Why the change is made (e.g. the suggestion confirmed); kept on the "
        "QueueReconfigured event, with who made the change.",
    )


class ReasonIn(StrictModel):
    reason: Reason | None = None


class CloseIn(ReasonIn):
    cancel_waiting: StrictBool = Field(
        default=False,
        description="Also cancel everyone still waiting (they are told, by the notifications "
        "they asked for): the end of a day that cannot serve them. Cancelled by staff, with "
        "this reason, before the close; those called stay at their counters. Needs "
        "`tickets:operate` too. On a queue closed already it cancels those still waiting.",
    )


class EmptyBody(StrictModel):
    """A command without fields: send no body, `{}` or `null`."""


# -- subscriptions (notifications): at enqueue, or later by the ticket's token ----------------------

if TYPE_CHECKING:
    Language = str
else:  # an enum in the document: the languages the product has words in
    Language = Literal[tuple(sorted(LANGUAGES))]
Email = Annotated[
    str,
    StringConstraints(
        max_length=254,
        pattern=r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
        r"[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$",
    ),
]
Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]  # E.164


class NotifyWhenIn(StrictModel):
    """When to be told. Leave `ahead` or `eta_minutes` out for the queue's default; null: never."""

    ahead: Annotated[int, Field(ge=0, le=9)] | None = Field(
        default=None,
        description="When this many people (or fewer) are ahead; left out: the queue's default; "
        "null: not told",
    )
    eta_minutes: Annotated[int, Field(ge=1, le=120)] | None = Field(
        default=None,
        description="When the estimated call is this many minutes away (or less); left out: the "
        "queue's default; null: not told",
    )
    called: StrictBool = True
    recalled: StrictBool = True
    returned: StrictBool = True
    missed: StrictBool = Field(
        default=True,
        description="Marked no-show: until when the person may come back, or that it ended",
    )
    moved: StrictBool = Field(
        default=True,
        description="Moved to another queue (a transfer, a merge): its name, the new number",
    )
    paused: StrictBool = Field(default=True, description="The queue pauses")
    resumed: StrictBool = Field(default=True, description="The queue moves again after a pause")
    closed: StrictBool = Field(default=True, description="The queue takes no more arrivals")
    served: StrictBool = Field(
        default=False,
        description="After service: a thank-you, with the queue's feedback link when it has one",
    )
    cancelled: StrictBool = Field(
        default=True,
        description="The place in line is cancelled: by staff (a closing queue that sends the "
        "people still waiting home, say), or by the person (a confirmation)",
    )
    subscribed: StrictBool = Field(
        default=True,
        description="At once, as the subscription is made: where the ticket stands (or the "
        "booking's date and time) and, by SMS or WhatsApp, how to stop (reply STOP)",
    )


class _SubscriptionBase(StrictModel):
    channel: str  # each kind narrows it: the discriminator
    language: Language = "en"
    when: NotifyWhenIn = Field(default_factory=NotifyWhenIn)

    def destination(self) -> str:
        raise NotImplementedError

    def wish(self) -> Wish:
        chosen = self.when.model_dump(exclude_unset=True)
        return Wish(self.channel, self.destination(), self.language, chosen)


class EmailSubscriptionIn(_SubscriptionBase):
    channel: Literal["email"]
    address: Email

    def destination(self) -> str:
        return self.address


class PhoneSubscriptionIn(_SubscriptionBase):
    channel: Literal["sms", "whatsapp"]
    address: Phone = Field(description="E.164, e.g. +447700900123")

    def destination(self) -> str:
        return self.address


class PushKeysIn(StrictModel):
    """Base64url (or base64): the browser's P-256 public key and its 16-byte auth secret."""

    p256dh: Annotated[str, StringConstraints(pattern=r"^B[A-Za-z0-9_+/-]{86}=?$")]
    auth: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_+/-]{22}(==)?$")]


class PushSubscriptionIn(StrictModel):
    """What the browser's `PushManager.subscribe()` gave (its `toJSON()`, less expirationTime)."""

    endpoint: Annotated[
        str,
        StringConstraints(
            max_length=1000, pattern=rf"^https?://[A-Za-z0-9.-]+(:[0-9]{{1,5}})?/{VISIBLE}*$"
        ),
    ]
    keys: PushKeysIn
    expirationTime: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="As the browser gives it; not used"
    )


class WebPushSubscriptionIn(_SubscriptionBase):
    channel: Literal["push"]
    push_subscription: PushSubscriptionIn

    def destination(self) -> str:
        return json.dumps(
            self.push_subscription.model_dump(exclude={"expirationTime"}),
            sort_keys=True,
            separators=(",", ":"),
        )


def refuse_push_endpoints(wishes: Sequence[Any], guard: Guard) -> None:
    """A push endpoint aimed inside is refused before anything is done (409 rule-violated)."""
    for index, wish in enumerate(wishes):
        if isinstance(wish, WebPushSubscriptionIn):
            why = push_refusal(wish.push_subscription.endpoint, guard)
            if why is not None:
                raise ProblemError(
                    "rule-violated",
                    f"this push endpoint may not be used: {why}",
                    errors=[{"loc": ["body", index, "push_subscription", "endpoint"], "msg": why}],
                )


SubscriptionIn = Annotated[
    EmailSubscriptionIn | PhoneSubscriptionIn | WebPushSubscriptionIn,
    Field(discriminator="channel"),
]


class EnqueueIn(StrictModel):
    priority: Label | None = None
    service_type: Label | None = None
    channel: Channel = "api"
    contact: ContactIn | None = None
    metadata: Metadata = Field(default_factory=dict)
    language: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")] | None
    ) = None
    allow_outside_hours: StrictBool = Field(
        default=False, description="Staff and admin keys only: let this person in after hours."
    )
    ADDED_LATER = frozenset({"notify"})
    notify: Annotated[list[SubscriptionIn], Field(max_length=4)] | None = Field(
        default=None,
        description="Subscriptions to make on the new ticket (its answer has their ids)",
    )


class CallNextIn(StrictModel):
    counter: Label
    service_types: Annotated[list[Label], Field(min_length=1, max_length=50)] | None = Field(
        default=None, description="Only call tickets of these service types."
    )


class CallTicketIn(StrictModel):
    counter: Label
    reason: Reason


class CancelIn(StrictModel):
    reason: Reason | None = None


class PriorityIn(StrictModel):
    priority: Label
    reason: Reason


class TransferIn(StrictModel):
    to_queue_id: uuid.UUID
    service_type: Label | None = None
    reason: Reason | None = None


class TicketOut(BaseModel):
    ticket_id: str
    queue_id: str
    number: str
    status: str
    priority: str
    service_type: str | None = None
    counter: str | None = None
    position: int | None = Field(default=None, description="1 = next to be called")
    people_ahead: int | None = None
    cancelled_by: str | None = Field(
        default=None,
        description="Once `cancelled`: who ended the place, `customer`, `staff` or `closing` "
        "(the queue closed and sent those still waiting home); more may be added",
    )
    token: str | None = Field(
        default=None,
        description="Lets the customer follow this ticket without an API key (enqueue only).",
    )


class StreamVersionOut(BaseModel):
    queue_id: str
    stream_version: int


class CommandOut(BaseModel):
    """What every successful command answers."""

    queue_id: str
    stream_version: int = Field(description="Pass as min_version to a query to read your write")
    event_ids: list[str]
    event_types: list[str]
    ticket: TicketOut | None = Field(
        default=None, description="The ticket the command made or moved, right after it"
    )
    target: StreamVersionOut | None = Field(
        default=None,
        description="Transfers, merges and splits: the receiving queue and its new stream "
        "version (pass it as min_version to read the tickets there)",
    )


class EnqueueOut(CommandOut):
    subscriptions: list[str] | None = Field(
        default=None, description="The ids of the subscriptions `notify` made (only with `notify`)"
    )
