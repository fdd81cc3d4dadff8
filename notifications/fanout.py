"""What each record of our topics becomes: the messages due to people and to webhook endpoints.

Pure: the notifier (notifier.py) loads subscriptions and endpoints, and sends what these return.
Every id is deterministic, so a record read twice makes the same messages again.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain.recorded import RecordedEvent
from notifications.default_templates import counter_label
from notifications.messages import Message, channel
from notifications.reminders import day_words
from notifications.rules import Due, Moment
from notifications.store.watches import Follower
from schemas.codec import avro_record

POSITION_EVENT = "TicketPositionChanged"
_IDS = uuid.UUID("0c3f8a52-64a1-4f0e-9b7e-3d2c1a9e8f10")


def moment_of(record: dict[str, Any]) -> Moment:
    """A positions-topic record (schemas/positions.py, decoded) as the rules read it."""
    return Moment(
        ticket_id=record["ticket_id"],
        queue_id=record["queue_id"],
        version=record["stream_version"],
        at=record["occurred_at"],
        cause=record["cause"],
        status=record["status"],
        position=record["position"],
        counter=record["counter"],
        call_p50_at=record.get("call_p50_at"),
        call_p10_at=record.get("call_p10_at"),
        call_p90_at=record.get("call_p90_at"),
        number=record["number"],
    )


def queue_moment(recorded: RecordedEvent, follower: Follower, number: str = "") -> Moment:
    """A change of a whole queue (paused, resumed, closed), as seen by one ticket in it; `number`
    is the ticket's, which its message starts with (the event does not name the ticket)."""
    return Moment(
        ticket_id=follower.ticket_id,
        queue_id=recorded.queue_id,
        version=recorded.stream_version,
        at=recorded.occurred_at,
        cause=recorded.event_type,
        status=follower.watch.status or "waiting",
        position=None,
        number=number,
    )


def ticket_message(
    follower: Follower,
    due: Due,
    *,
    queue_name: str,
    public_url: str,
    feedback_url: str | None = None,
    previous_number: str | None = None,
    return_by: datetime | None = None,
) -> Message:
    """A rule's message to one subscription. `previous_number`: a move's, when the rule could
    not know it (the notifier looks it up); `return_by`: a no-show's (see `return_by`)."""
    moment = due.moment
    minutes = _minutes(moment.at, moment.call_p50_at)
    low, high = _minutes(moment.at, moment.call_p10_at), _minutes(moment.at, moment.call_p90_at)
    data: dict[str, Any] = {
        "number": moment.number or None,
        "queue_name": queue_name,
        "position": moment.position,
        "people_ahead": None if moment.position is None else moment.position - 1,
        "counter": moment.counter,
        "counter_label": counter_label(moment.counter, follower.language),
        "minutes": minutes,
        "wait_range": None if low is None or high is None else f"{low}-{max(high, low)} minutes",
        # The ticket's page without its token (a credential: it cancels the ticket), which the
        # delivery stage adds as it sends (notifications/delivery.py): no topic record or
        # delivery log keeps it.
        "ticket_url": f"{public_url.rstrip('/')}/t/{follower.ticket_id}",
        "feedback_url": feedback_url,
        "previous_number": due.previous_number or previous_number,
        "cancelled_by": moment.cancelled_by,
        **returning(moment.at, return_by, follower.language, follower.channel),
    }
    return Message(
        id=due.message_id,
        tenant_id=follower.tenant_id,
        channel=channel(follower.channel),
        to="",  # read from the subscription when sent (notifications/delivery.py)
        topic=due.rule.kind,
        created_at=moment.at,
        order_key=follower.ticket_id,
        language=follower.language,
        queue_id=moment.queue_id,
        ticket_id=follower.ticket_id,
        subscription_id=follower.subscription_id,
        data=data,
    )


def return_by(missed_at: datetime, queue_view: dict[str, Any]) -> datetime | None:
    """Until when a person marked no-show may come back, on the queue's clock: the domain's
    rule (domain/decide.py `_return`), from the queue's settings in its view; None when it gives
    no grace period."""
    grace = int(queue_view.get("no_show_grace_seconds") or 0)
    if grace <= 0:
        return None
    zone = ZoneInfo(str(queue_view.get("timezone") or "UTC"))
    return (missed_at + timedelta(seconds=grace)).astimezone(zone)


def returning(
    missed_at: datetime, deadline: datetime | None, language: str, channel_name: str
) -> dict[str, Any]:
    """A no-show's words for its deadline (`return_by`, on the queue's clock): `return_time`
    ("10:45", as reminders say their slot) and, when the deadline is not on the day the ticket
    was missed there, `return_date` too (as reminders say their day, "7 décembre"): "back by
    00:20" said at 23:50 is tomorrow's, "back by 10:00" said at 10:05 would be read as gone.
    `return_by`, the instant (UTC), is for the delivery stage: a retry after it is not sent
    (obsolete.py)."""
    if deadline is None:
        return {"return_time": None, "return_date": None}
    day = deadline.date()
    other_day = day != missed_at.astimezone(deadline.tzinfo).date()
    return {
        "return_time": deadline.strftime("%H:%M"),
        "return_date": day_words(day, language, channel_name) if other_day else None,
        "return_by": iso_utc(deadline),
    }


def webhook_message(
    endpoint_id: str,
    tenant_id: str,
    event_type: str,
    event_id: str,
    occurred_at: datetime,
    payload: dict[str, Any],
    order_key: str,
) -> Message:
    """One event for one endpoint; the body follows the Standard Webhooks shape."""
    body = {"type": event_type, "timestamp": iso_utc(occurred_at), "data": _jsonable(payload)}
    return Message(
        id="msg_" + uuid.uuid5(_IDS, f"{event_id}:{endpoint_id}").hex,
        tenant_id=tenant_id,
        channel="webhook",
        to=endpoint_id,
        topic=event_type,
        created_at=occurred_at,
        order_key=order_key,
        queue_id=payload.get("queue_id"),
        ticket_id=payload.get("ticket_id"),
        data=body,
    )


def event_payload(recorded: RecordedEvent) -> dict[str, Any]:
    return _jsonable(avro_record(recorded))


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(value, default=_default))
    return loaded


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return iso_utc(value)
    return str(value)


def iso_utc(moment: datetime) -> str:
    """A time as every event and webhook message writes it: UTC, `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _minutes(now: datetime, then: datetime | None) -> int | None:
    if then is None:
        return None
    return max(0, round((then - now).total_seconds() / 60))
