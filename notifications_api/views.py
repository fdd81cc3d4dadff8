"""Stored notification things as the API shows them: contact details masked, secrets left out."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urlsplit

from notifications.store.alerts import AlertRule
from notifications.store.endpoints import Endpoint
from notifications.store.log import LoggedMessage
from notifications.store.schedules import Schedule
from notifications.store.subscriptions import EVENT_DEFAULTS, Subscription
from notifications.store.templates import StoredTemplate
from notifications_api.models import SubscriptionOut, TemplateOut, WhenOut
from notifications_api.models_admin import AlertOut, ScheduleOut
from notifications_api.models_webhooks import AttemptOut, DeliveryOut, EndpointOut


def mask_phone(number: str) -> str:
    """+447700900123 -> +44770****123: enough to recognise one's own, not to call it."""
    if len(number) >= 11:
        return f"{number[:6]}****{number[-3:]}"
    return f"{number[:3]}****{number[-2:]}"


def mask_email(address: str) -> str:
    """jane@example.com -> j***@example.com."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


def mask_push(subscription: str) -> str:
    """A push subscription shows its push service only (the endpoint is a capability)."""
    try:
        host = urlsplit(json.loads(subscription)["endpoint"]).hostname
    except (ValueError, KeyError, TypeError):
        host = None
    return f"push:{host or '?'}"


def mask_chat(url: str) -> str:
    """A chat tool's webhook URL holds its tokens in its path: its scheme is all it shows."""
    scheme, _, _ = url.partition("://")
    return f"{scheme}://***"


def masked(channel: str, address: str) -> str:
    if channel == "email":
        return mask_email(address)
    if channel in ("sms", "whatsapp"):
        return mask_phone(address)
    if channel == "push":
        return mask_push(address)
    return mask_chat(address)


def subscription_out(sub: Subscription) -> SubscriptionOut:
    eta = sub.threshold("eta")
    when = WhenOut(
        ahead=sub.threshold("ahead"),
        eta_minutes=None if eta is None else eta // 60,
        **{kind: sub.wants(kind) for kind in EVENT_DEFAULTS},
    )
    return SubscriptionOut(
        subscription_id=sub.subscription_id,
        ticket_id=sub.ticket_id,
        queue_id=sub.queue_id,
        channel=sub.channel,
        address=masked(sub.channel, sub.address),
        language=sub.language,
        when=when,
        created_at=sub.created_at,
    )


def template_out(found: StoredTemplate) -> TemplateOut:
    return TemplateOut.model_validate(found, from_attributes=True)


def rotating_until(endpoint: Endpoint, now: datetime) -> datetime | None:
    until = endpoint.previous_until
    return until if endpoint.previous_secret and until is not None and until > now else None


def endpoint_fields(endpoint: Endpoint, now: datetime) -> dict[str, object]:
    """Everything an answer shows of an endpoint: all but its secrets."""
    return {
        "endpoint_id": endpoint.endpoint_id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "rate_per_s": endpoint.rate_per_s,
        "disabled_at": endpoint.disabled_at,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since,
        "previous_secret_until": rotating_until(endpoint, now),
        "created_at": endpoint.created_at,
    }


def endpoint_out(endpoint: Endpoint, now: datetime) -> EndpointOut:
    return EndpointOut.model_validate(endpoint_fields(endpoint, now))


def delivery_out(message: LoggedMessage) -> DeliveryOut:
    return DeliveryOut(
        message_id=message.message_id,
        topic=message.topic,
        status=message.status,
        attempts=message.attempts,
        created_at=message.created_at,
        delivered_at=message.delivered_at,
        last_error=message.last_error,
        history=[AttemptOut.model_validate(a, from_attributes=True) for a in message.tries],
    )


def alert_out(rule: AlertRule) -> AlertOut:
    return AlertOut(
        alert_id=rule.alert_id,
        queue_id=rule.queue_id,
        condition=rule.condition,
        threshold=rule.threshold,
        channel=rule.channel,
        address=rule.address if rule.channel == "email" else mask_chat(rule.address),
        language=rule.language,
        created_at=rule.created_at,
    )


def schedule_out(schedule: Schedule) -> ScheduleOut:
    address = schedule.address
    if address is not None and schedule.channel == "chat":
        address = mask_chat(address)
    return ScheduleOut(
        schedule_id=schedule.schedule_id,
        queue_id=schedule.queue_id,
        kind=schedule.kind,
        recurrence=schedule.recurrence,
        local_time=None if schedule.local_time is None else schedule.local_time.strftime("%H:%M"),
        time_zone=schedule.time_zone,
        next_at=schedule.next_at,
        channel=schedule.channel,
        address=address,
        language=schedule.language,
        text=schedule.text,
        fired=schedule.fired,
        created_at=schedule.created_at,
    )
