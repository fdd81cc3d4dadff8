"""Telling a person at once that they are subscribed, and where they stand.

Every subscription a person makes (email, SMS, WhatsApp, web push; at enqueue, on the ticket's
page, with a booking) gets one `subscribed` message as it is made: "A-006: you're in line at Passports, 2 ahead, about 8 min. Reply STOP to
stop." (the STOP sentence in SMS and WhatsApp: carriers expect an opt-in to be confirmed with how
to stop it). Without it, one who subscribes while already within their `ahead` threshold heard
nothing until the line moved, maybe many minutes later.

* The place and the wait are the read side's, as the ticket's page shows them (`GET
  /v1/tickets/{id}`: the ticket's view, its rank in the line, its current wait range). A ticket
  the read model has not seen yet (just enqueued) is told what the command side knows, its
  number and queue, and no place: no "0 ahead" made up (the rules tell the place as it comes).
* When it tells the place, the threshold rules the ticket is within count as crossed: the new
  subscription's watch starts there (rules.py `Watch.told`), so "2 ahead" does not follow "you're
  in line, 2 ahead".
* The message is written with the subscription, in the same statement, and the notifier's
  schedules stage puts it on its topic within a second (`fire_confirmations`): an enqueue with
  `notify` does not wait for Kafka (nor fails for it), and a confirmation made while Kafka is
  away is sent when it is back, or dropped then if the ticket was called meanwhile (obsolete.py).
* Its id is `<subscription>:subscribed:<n>`, n counting the subscription's starts: a new one
  is 1; one made again after it was cancelled (a STOP, an unsubscribe link, a DELETE) is a new
  consent and gets its own, 2, 3... (store/subscriptions.py). A retried request subscribes again
  to a live subscription and makes none; two replicas sending it send the same id, which the
  delivery stage sends once.
* A booking, not in a line yet, is told its date and time instead, as its reminder says them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from notifications import fanout
from notifications.messages import Message
from notifications.outlet import Outlet
from notifications.reminders import day_words
from notifications.rules import SUBSCRIBED, Due, Moment, Rule, Watch
from notifications.store import confirmations as store
from notifications.store.db import Pool
from notifications.store.subscriptions import Subscription, Wish, subscribe
from notifications.store.watches import Follower
from projections.queries import ReadModels, TicketRead
from projections.unavailable import ReadModelUnavailable


@dataclass(frozen=True, slots=True)
class Confirming:
    """What confirming needs, made once per API process (its lifespan)."""

    pool: Pool
    read_models: ReadModels  # its clock (`now`) is the API's, which stamps the events too
    public_url: str


@dataclass(frozen=True, slots=True)
class Addressee:
    """The subscription a confirmation is for, as it is being made."""

    subscription_id: str
    tenant_id: str
    channel: str
    language: str


@dataclass(frozen=True, slots=True)
class Subscribed:
    """The ticket (or booking) being subscribed to, as the command side knows it."""

    tenant_id: str
    queue_id: str
    ticket_id: str
    queue_name: str
    number: str | None = None  # None for a booking not checked in
    slot_at: datetime | None = None  # a booking's slot
    time_zone: str = "UTC"  # the queue's: the slot is told in it
    # False for a ticket this very request made: the read side cannot have placed it yet, so
    # it is not asked (a Redis read on every enqueue with `notify` that found nothing).
    placed: bool = True


def message_id(subscription_id: str, start: int = 1) -> str:
    """As the rules name their messages (subscription, rule, crossing): told once per start."""
    return f"{subscription_id}:{SUBSCRIBED}:{start}"


def _at(eta: dict[str, Any], level: str) -> datetime | None:
    value = eta.get(f"{level}_at")
    return None if value is None else datetime.fromisoformat(str(value))


def seen(read: TicketRead | None, at: datetime) -> Moment | None:
    """The ticket's place as its page shows it, as a moment at `at`; None unless the read side
    shows it waiting in a line (not seen yet, called, a booking)."""
    if read is None or read.view.get("status") != "waiting" or read.position is None:
        return None
    eta = read.eta or {}
    return Moment(
        ticket_id=str(read.view.get("ticket_id")),
        queue_id=read.queue_id,
        version=read.version,
        at=at,
        cause=SUBSCRIBED,
        status="waiting",
        position=read.position,
        call_p50_at=_at(eta, "p50"),
        call_p10_at=_at(eta, "p10"),
        call_p90_at=_at(eta, "p90"),
        number=str(read.view.get("number") or ""),
    )


def confirmation(
    sub: Addressee,
    ticket: Subscribed,
    told: Moment | None,
    at: datetime,
    public_url: str,
    start: int = 1,
) -> Message:
    """The `subscribed` message of one subscription's `start` (1: new; see `message_id`): the
    place `told` (None: not known), or a booking's slot. Its data is a rule's message's
    (fanout.py), so templates read the same variables."""
    moment = told or Moment(
        ticket_id=ticket.ticket_id,
        queue_id=ticket.queue_id,
        version=0,
        at=at,
        cause=SUBSCRIBED,
        status="waiting",
        position=None,
        number=ticket.number or "",
    )
    follower = Follower(
        sub.subscription_id,
        sub.tenant_id,
        ticket.queue_id,
        ticket.ticket_id,
        sub.channel,
        "",  # the address is read when it is sent
        sub.language,
        Watch(sub.subscription_id, ()),
    )
    due = Due(message_id(sub.subscription_id, start), sub.subscription_id, ticket.ticket_id,
              Rule(SUBSCRIBED), moment)  # fmt: skip
    message = fanout.ticket_message(
        follower, due, queue_name=ticket.queue_name, public_url=public_url
    )
    if ticket.slot_at is None:
        return message
    local = ticket.slot_at.astimezone(ZoneInfo(ticket.time_zone))
    slot = {
        "slot_time": local.strftime("%H:%M"),
        "slot_date": day_words(local.date(), sub.language, sub.channel),
        "slot_at": fanout.iso_utc(ticket.slot_at),  # not sent once it has begun (obsolete.py)
    }
    return replace(message, data={**message.data, **slot})


async def _place(models: ReadModels, ticket: Subscribed, at: datetime) -> Moment | None:
    if ticket.slot_at is not None:
        return None  # a booking: not in a line yet
    if not ticket.placed:
        return None  # just made: the rules tell the place once the read side has it
    try:
        read = await models.ticket(ticket.tenant_id, ticket.ticket_id)
    except ReadModelUnavailable:
        return None  # said without the place; the rules tell it as the line moves
    return seen(read, at)


async def subscribe_and_confirm(
    c: Confirming, ticket: Subscribed, wishes: Sequence[Wish]
) -> list[Subscription]:
    """Store each wish on the ticket (as `subscribe`), a new (or restarted) one with its
    confirmation unless it turned it off (`when.subscribed`, true by default)."""
    at = c.read_models.now()
    told = await _place(c.read_models, ticket, at)

    def confirming(wish: Wish) -> Callable[[str, int], Message]:
        def made(subscription_id: str, start: int) -> Message:
            to = Addressee(subscription_id, ticket.tenant_id, wish.channel, wish.language)
            return confirmation(to, ticket, told, at, c.public_url, start)

        return made

    return [
        await subscribe(
            c.pool,
            ticket.tenant_id,
            ticket.queue_id,
            ticket.ticket_id,
            w,
            told,
            confirming(w),
            number=ticket.number,
        )
        for w in wishes
    ]


async def fire_confirmations(pool: Pool, outlet: Outlet) -> int:
    """Put the confirmations waiting on their delivery topics (the schedules stage, every
    second); how many. Cleared once Kafka has them: a replica that dies in between sends them
    again, under the same ids."""
    found = await store.pending(pool)
    await outlet.send(found)
    await store.sent(pool, found)
    return len(found)
