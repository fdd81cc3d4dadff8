"""The notifier: a consumer group of its own on `vq.positions` and `vq.queue-events`.

For each batch it loads the subscriptions of the tickets it names and the tenant's webhook
endpoints, folds every record through the pure rules (rules.py, fanout.py), puts the messages
that are due on the channels' delivery topics, then writes the watches and commits. Killed
between the two, it folds the batch again from the watches as they were, and makes the same
messages with the same ids: the delivery stage sends each once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord
from psycopg_pool import AsyncConnectionPool

from core.kafka_start import started
from core.settings import Settings
from domain.events import TicketCancelled
from domain.recorded import RecordedEvent
from notifications import fanout
from notifications.alerting import alert_messages
from notifications.arrivals import ArrivalAlerts
from notifications.consuming import Records, consume, consumer
from notifications.messages import Message
from notifications.outlet import Outlet
from notifications.queue_views import QueueViews
from notifications.rules import Due, Moment
from notifications.store import endpoints as endpoint_store
from notifications.store import watches
from notifications.store.alerts import alert_rules_for
from notifications.store.defaults import get_notify_defaults
from notifications.store.watches import Follower
from observability import metrics
from schemas import positions
from schemas.codec import decode
from topics.deadletters import one_line

log = logging.getLogger("vq.notifications.notifier")

QUEUE_RULE_EVENTS = frozenset({"QueuePaused", "QueueResumed", "QueueClosed"})
# A ticket's change told from the events topic as well as from the positions topic (_for_left).
CANCELLED = "TicketCancelled"
JOINING = frozenset({"TicketEnqueued", "TicketTransferredIn", "AppointmentCheckedIn"})


def _skipped(record: ConsumerRecord[bytes, bytes], error: Exception) -> None:
    """A record the notifier cannot read is passed over, not read again forever: one such record
    would stop notifications and webhooks of its partition (and of those fetched with it) for
    good. The workers put the events topic's on its dead-letter topic; `vq deadletters replay`
    writes it back once fixed, and the notifier reads it then."""
    metrics.NOTIFIER_SKIPPED.labels(record.topic).inc()
    log.warning(
        "skipped a record it cannot decode, %s/%d/%d: %s",
        record.topic,
        record.partition,
        record.offset,
        one_line(error),
        extra={"partition": record.partition, "offset": record.offset},
    )


def _who_cancelled(
    moments: list[tuple[Moment, str, int]], events: list[tuple[RecordedEvent, int]]
) -> list[tuple[Moment, str, int]]:
    """A cancel's moment from the positions topic with who cancelled (the event's `by`), when
    the event came in the same batch: the moments are folded first, and its words depend on it
    (the queue closed, the person left, staff ended it)."""
    left_by = {
        (recorded.event.ticket_id, recorded.stream_version): recorded.event.by
        for recorded, _ in events
        if isinstance(recorded.event, TicketCancelled)
    }
    if not left_by:
        return moments
    return [
        (replace(m, cancelled_by=left_by.get((m.ticket_id, m.version))), tenant, stamp)
        if m.cause == CANCELLED and m.cancelled_by is None
        else (m, tenant, stamp)
        for m, tenant, stamp in moments
    ]


class Notifier:
    def __init__(
        self, settings: Settings, pool: AsyncConnectionPool[Any], outlet: Outlet, names: QueueViews
    ) -> None:
        self._settings, self._pool, self._outlet, self._names = settings, pool, outlet, names
        self._arrivals = ArrivalAlerts(pool, names, settings.public_url)

    @property
    def group(self) -> str:
        return f"{self._settings.topic_prefix}-notifier"

    async def run(self, stop: asyncio.Event) -> None:
        topics = [self._settings.positions_topic, self._settings.events_topic]
        kafka = await started(
            lambda: consumer(self._settings, self.group, topics), stop, self.group
        )
        if kafka is None:
            return
        try:
            await consume(kafka, self.handle, stop)
        finally:
            await kafka.stop()

    async def handle(self, records: Records) -> None:
        moments: list[tuple[Moment, str, int]] = []  # (moment, tenant, Kafka timestamp ms)
        events: list[tuple[RecordedEvent, int]] = []
        for record in records:
            if record.value is None:
                continue
            try:
                if record.topic == self._settings.positions_topic:
                    raw = positions.decode(record.value)
                    moments.append((fanout.moment_of(raw), raw["tenant_id"], record.timestamp))
                else:
                    events.append((decode(record.value, record.headers), record.timestamp))
            except Exception as error:  # the record's fault: decoding does no I/O
                _skipped(record, error)
        moments = _who_cancelled(moments, events)
        tickets = [m.ticket_id for m, _, _ in moments]
        tickets += [e.event.ticket_id for e, _ in events if isinstance(e.event, TicketCancelled)]
        followers = {f.subscription_id: f for f in await watches.following(self._pool, tickets)}
        touched: dict[str, Follower] = {}
        messages = await self._for_moments(moments, followers, touched)
        messages += await self._for_events(events, followers, touched)
        await self._outlet.send(messages)
        await watches.save(self._pool, list(touched.values()))

    async def _for_moments(
        self,
        moments: list[tuple[Moment, str, int]],
        followers: dict[str, Follower],
        touched: dict[str, Follower],
    ) -> list[Message]:
        by_ticket: dict[str, list[Follower]] = {}
        for follower in followers.values():
            by_ticket.setdefault(follower.ticket_id, []).append(follower)
        messages: list[Message] = []
        for moment, tenant_id, stamp in moments:
            for follower in by_ticket.get(moment.ticket_id, []):
                was_in = follower.queue_id
                dues = follower.watch.step(moment)
                # A transfer moves the ticket; the queue it left, announced late, does not.
                follower.queue_id = follower.watch.queue_id or moment.queue_id
                touched[follower.subscription_id] = follower
                name = await self._names.name(tenant_id, moment.queue_id)
                messages += [
                    await self._ticket_message(follower, due, name, was_in) for due in dues
                ]
            if moment.position == 1 and moment.cause in JOINING:
                messages += await self._joined(tenant_id, moment)
            messages += await self._webhooks(
                tenant_id,
                fanout.POSITION_EVENT,
                f"{moment.queue_id}:{moment.version}:{moment.ticket_id}",
                moment,
                stamp,
            )
        return messages

    async def _for_events(
        self,
        events: list[tuple[RecordedEvent, int]],
        followers: dict[str, Follower],
        touched: dict[str, Follower],
    ) -> list[Message]:
        messages: list[Message] = []
        for recorded, stamp in events:
            messages += await self._webhooks(
                recorded.tenant_id, recorded.event_type, recorded.event_id, recorded, stamp
            )
            messages += await self._arrivals.observe(recorded)
            if isinstance(recorded.event, TicketCancelled):
                messages += await self._for_left(recorded, recorded.event, followers, touched)
            if recorded.event_type not in QUEUE_RULE_EVENTS:
                continue
            messages += await self._for_queue(recorded, followers, touched)
        return messages

    async def _for_left(
        self,
        recorded: RecordedEvent,
        event: TicketCancelled,
        followers: dict[str, Follower],
        touched: dict[str, Follower],
    ) -> list[Message]:
        """A cancelled place, told from the events topic, in its queue's order: a close that
        sends those waiting home cancels them before it closes, and each must have left before
        the close is told ("your ticket is still valid"), which the positions topic (the
        worker's, read beside this one, later) cannot promise. The moment it brings afterwards,
        at the same version, makes nothing more (the watch has left; a message's id is its
        rule's crossing, so one made twice is sent once)."""
        mine = [f for f in followers.values() if f.ticket_id == event.ticket_id]
        if not mine:
            return []
        tenant_id, queue_id = recorded.tenant_id, recorded.queue_id
        name = await self._names.name(tenant_id, queue_id)
        numbers = await self._names.numbers(tenant_id, queue_id, [event.ticket_id])
        messages: list[Message] = []
        for follower in mine:
            moment = Moment(
                ticket_id=event.ticket_id,
                queue_id=queue_id,
                version=recorded.stream_version,
                at=recorded.occurred_at,
                cause=CANCELLED,
                status="cancelled",
                position=None,
                number=numbers.get(event.ticket_id) or follower.watch.number or "",
                cancelled_by=event.by,
            )
            dues = follower.watch.step(moment)
            touched[follower.subscription_id] = follower
            messages += [await self._ticket_message(follower, due, name) for due in dues]
        return messages

    async def _for_queue(
        self,
        recorded: RecordedEvent,
        followers: dict[str, Follower],
        touched: dict[str, Follower],
    ) -> list[Message]:
        """A change of a whole queue (paused, resumed, closed), told to each ticket in it under
        its own number (read from the tickets' views, or kept by the subscription: the event
        names no ticket)."""
        tenant_id, queue_id = recorded.tenant_id, recorded.queue_id
        name = await self._names.name(tenant_id, queue_id)
        loaded = await watches.in_queue(self._pool, queue_id)
        numbers = await self._names.numbers(tenant_id, queue_id, [f.ticket_id for f in loaded])
        messages: list[Message] = []
        for one in loaded:
            follower = followers.setdefault(one.subscription_id, one)
            # The read side's, or the subscription's own (a ticket it has not projected yet).
            number = numbers.get(follower.ticket_id) or follower.watch.number or ""
            dues = follower.watch.queue_event(fanout.queue_moment(recorded, follower, number))
            touched[follower.subscription_id] = follower
            messages += [await self._ticket_message(follower, due, name) for due in dues]
        return messages

    async def _joined(self, tenant_id: str, moment: Moment) -> list[Message]:
        rules = await alert_rules_for(self._pool, tenant_id, "joined_empty_queue", moment.queue_id)
        if not rules or not await self._names.was_empty(tenant_id, moment):
            return []
        name = await self._names.name(tenant_id, moment.queue_id)
        data = {
            "queue_name": name,
            "queue_id": moment.queue_id,
            "detail": f"{moment.number} joined {name}, where nobody was waiting",
            "value": 1,
            "threshold": None,
            "counter": None,
            "dashboard_url": f"{self._settings.public_url.rstrip('/')}/dashboard",
        }
        # At most one alert per queue per quarter of an hour, however often the queue empties.
        quarter = moment.at.replace(minute=moment.at.minute - moment.at.minute % 15, second=0,
                                    microsecond=0)  # fmt: skip
        seen = f"{moment.queue_id}:{quarter.isoformat()}"
        return alert_messages(rules, seen=seen, at=moment.at, data=data)

    async def _ticket_message(
        self, follower: Follower, due: Due, queue_name: str, was_in: str | None = None
    ) -> Message:
        return fanout.ticket_message(
            follower,
            due,
            queue_name=queue_name,
            public_url=self._settings.public_url,
            feedback_url=await self._feedback_url(follower, due),
            previous_number=await self._previous_number(follower, due, was_in),
            return_by=await self._return_by(follower, due),
        )

    async def _previous_number(
        self, follower: Follower, due: Due, was_in: str | None
    ) -> str | None:
        """A move's old number when the watch never saw it (the positions topic names a ticket
        only among the first few places of its line): the ticket's view in the queue it left."""
        if due.rule.kind != "moved" or due.previous_number or not was_in:
            return None
        found = await self._names.numbers(follower.tenant_id, was_in, [follower.ticket_id])
        return found.get(follower.ticket_id)

    async def _return_by(self, follower: Follower, due: Due) -> datetime | None:
        """A no-show's: until when it may come back, from the queue's settings (its view is
        written before the moment is announced)."""
        if due.rule.kind != "missed":
            return None
        view = await self._names.view(follower.tenant_id, due.moment.queue_id)
        return None if view is None else fanout.return_by(due.moment.at, view)

    async def _feedback_url(self, follower: Follower, due: Due) -> str | None:
        """The queue's feedback link (its notification settings), for the message after service
        only: read when it is made, so the link is the one set when the person was served."""
        if due.rule.kind != "served":
            return None
        found = await get_notify_defaults(self._pool, follower.tenant_id, due.moment.queue_id)
        return found.feedback_url

    async def _webhooks(
        self, tenant_id: str, event_type: str, event_id: str, source: Any, stamp: int
    ) -> list[Message]:
        endpoints = await endpoint_store.active_endpoints(self._pool, tenant_id)
        if not endpoints:
            return []
        published = datetime.fromtimestamp(stamp / 1000, UTC)
        wanted = [
            e
            for e in endpoints
            if _wants(e, event_type) and e.created_at <= published  # nothing from before it
        ]
        if not wanted:
            return []
        if isinstance(source, RecordedEvent):
            payload, occurred, key = (
                fanout.event_payload(source),
                source.occurred_at,
                source.queue_id,
            )
        else:
            payload, occurred, key = (
                _position_payload(tenant_id, source),
                source.at,
                source.queue_id,
            )
        return [
            fanout.webhook_message(
                e.endpoint_id, tenant_id, event_type, event_id, occurred, payload, key
            )
            for e in wanted
        ]


def _wants(endpoint: Any, event_type: str) -> bool:
    """Every queue event when the endpoint named none; position changes only when named."""
    types: Iterable[str] = endpoint.event_types
    if event_type == fanout.POSITION_EVENT:
        return event_type in types
    return bool(endpoint.wants(event_type))


def _position_payload(tenant_id: str, moment: Moment) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "queue_id": moment.queue_id,
        "ticket_id": moment.ticket_id,
        "number": moment.number,
        "stream_version": moment.version,
        "occurred_at": moment.at,
        "cause": moment.cause,
        "status": moment.status,
        "position": moment.position,
        "counter": moment.counter,
        "call_p50_at": moment.call_p50_at,
    }
