"""A message on its way: what the notifier makes due and the channel workers send.

One JSON record per message on the channel's delivery topic (`vq.deliveries.<channel>`), keyed by
`order_key` so one ticket's (or one endpoint's) messages stay in order. The id is deterministic
(a due notification's `sub:rule:crossing`, a webhook's event and endpoint): a record delivered
twice by Kafka, or made twice by a notifier that restarted, is the same message, sent once. It is
also the `webhook-id` a receiver dedupes by.

What varies between attempts (which attempt this is, when it may be tried) travels in headers, so
the body is the same on the channel topic, the retry topics and the dead-letter topic.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal, cast

from core.settings import DELIVERY_CHANNELS

Channel = Literal["webhook", "email", "sms", "whatsapp", "push", "chat"]
# The settings name each channel's topic; this is the same list, typed.
CHANNELS = cast(tuple[Channel, ...], DELIVERY_CHANNELS)


def channel(name: str) -> Channel:
    """A channel's name as stored (a subscription's, an alert rule's), checked."""
    if name not in CHANNELS:
        raise ValueError(f"unknown channel {name!r}")
    return name  # narrowed by the test above


ATTEMPT_HEADER = "vq-attempt"  # 1 = the first attempt
DUE_HEADER = "vq-due-at"  # RFC 3339: not to be tried before
ERROR_HEADER = "vq-last-error"  # on retry and dead-letter records: why the last attempt failed


def header(headers: Sequence[tuple[str, bytes]], name: str) -> bytes | None:
    """A Kafka record's header by name (the first of that name), or None."""
    return next((value for key, value in headers if key == name), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    id: str
    tenant_id: str
    channel: Channel
    # Where it goes: a webhook endpoint's id, an alert's address or id; empty for a person's
    # subscription (`subscription_id`), whose address is read when the message is sent, so that
    # no topic or delivery log keeps a person's e-mail, number or push endpoint.
    to: str
    # What it is about: a rule ("ahead", "called"...), an event type for webhooks, "alert:<name>",
    # "announcement", "summary". It names the template that renders it.
    topic: str
    created_at: datetime
    order_key: str
    language: str = "en"
    queue_id: str | None = None
    ticket_id: str | None = None
    subscription_id: str | None = None
    # The template's variables, or (webhooks) the JSON body to send.
    data: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The message as JSON values (what the topics carry and the delivery log keeps)."""
        # A shallow copy of the fields (`asdict` deep-copies the data: 4x the cost, measured).
        record = {name: getattr(self, name) for name in _FIELDS}
        record["created_at"] = self.created_at.astimezone(UTC).isoformat()
        return record

    def encode(self) -> bytes:
        return json.dumps(self.record(), separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Message:
        return cls(**{**record, "created_at": datetime.fromisoformat(record["created_at"])})

    @classmethod
    def decode(cls, raw: bytes) -> Message:
        return cls.from_record(json.loads(raw))

    @property
    def key(self) -> bytes:
        return self.order_key.encode()


_FIELDS = tuple(f.name for f in fields(Message))


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message's words, in its language, from its template: what a person reads."""

    text: str
    subject: str | None = None  # email only


@dataclass(frozen=True, slots=True)
class Sent:
    """What the other side answered to one attempt (the delivery log keeps it)."""

    seconds: float
    status: int | None = None  # HTTP status, or the SMTP reply code
    excerpt: str = ""  # the first bytes of the answer
    provider_id: str | None = None  # the provider's message id (SMS sid, SMTP queue id)


class DeliveryFailed(Exception):
    """An attempt failed. `permanent`: trying again will not help (a 410 from a webhook or a push
    service, a number the provider rejects); the message goes to the dead letters at once and,
    when `gone`, the destination is disabled. `opted_out`: the person told the provider to stop
    (Twilio's 21610); permanent, and every subscription of that address is stopped."""

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        gone: bool = False,
        opted_out: bool = False,
        sent: Sent | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent or gone or opted_out
        self.gone = gone
        self.opted_out = opted_out
        self.sent = sent
