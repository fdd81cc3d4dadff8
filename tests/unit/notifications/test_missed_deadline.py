"""A message that says a time that ends it is not sent after that time, and "back by 00:20" says
its day when it is not the day of the message (found by a probe: a retried "come back by 10:45"
was sent at 10:50, and "back by 00:20" said at 23:50 read as twenty minutes ago)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notifications.confirmation import Addressee, Subscribed, confirmation
from notifications.fanout import return_by, ticket_message
from notifications.messages import Message
from notifications.obsolete import obsolete
from notifications.rules import Due, Moment, Rule, Watch
from notifications.store.watches import Follower, Standing
from notifications.templates import default_template, render, variables_for

SUB, TICKET, QUEUE = "sub-1", "ticket-1", "queue-a"
ZONE = "Europe/Paris"  # UTC+1 in December
# 09:30 in Paris.
T0 = datetime(2026, 12, 6, 8, 30, tzinfo=UTC)


def missed(at: datetime, grace_s: int, language: str = "en", channel: str = "sms") -> Message:
    """`missed` as the notifier makes it: a no-show at `at` in a queue of this grace period."""
    follower = Follower(SUB, "tenant", QUEUE, TICKET, channel, "", language, Watch(SUB, ()))
    moment = Moment(TICKET, QUEUE, 7, at, "TicketNoShow", "no_show", None, number="A-006")
    due = Due(f"{SUB}:missed:1", SUB, TICKET, Rule("missed"), moment)
    deadline = return_by(at, {"timezone": ZONE, "no_show_grace_seconds": grace_s})
    return ticket_message(
        follower, due, queue_name="Passports", public_url="https://q.example", return_by=deadline
    )


def waiting_no_show() -> Standing:
    watch = Watch(SUB, (Rule("missed"),), fired={"missed": 1}, status="no_show")
    return Standing("+447700900200", False, QUEUE, watch, {})


def text(message: Message) -> str:
    template = default_template(message.topic, message.channel, message.language)
    return render(template, variables_for(message.topic, message.data)).text


def test_a_missed_message_is_not_sent_after_its_time_to_come_back() -> None:
    late = missed(T0, 900)  # back by 09:45, Paris
    assert obsolete(late, waiting_no_show(), T0 + timedelta(minutes=14)) is None
    why = obsolete(late, waiting_no_show(), T0 + timedelta(minutes=15))
    assert why == "the time to come back by (09:45) has passed", why
    # A record made before messages carried the instant: nothing to tell it by, it holds.
    data = {k: v for k, v in late.data.items() if k != "return_by"}
    old = Message(**{**late.record(), "created_at": T0, "data": data})
    assert obsolete(old, waiting_no_show(), T0 + timedelta(hours=3)) is None
    # A queue that gives no grace: "your ticket has ended" holds whenever it comes.
    ended = missed(T0, 0)
    assert obsolete(ended, waiting_no_show(), T0 + timedelta(days=2)) is None


def _booking(slot_at: datetime) -> Subscribed:
    return Subscribed("tenant", QUEUE, TICKET, "Passports", slot_at=slot_at, time_zone=ZONE)


def _reminder(slot_at: datetime, made: datetime) -> Message:
    data: dict[str, Any] = {"slot_time": "10:30", "slot_at": slot_at.isoformat()}
    return Message(
        id=f"rem:{SUB}:1", tenant_id="tenant", channel="sms", to="", topic="reminder",
        created_at=made, order_key=TICKET, subscription_id=SUB, data=data,
    )  # fmt: skip


def test_a_bookings_reminder_or_confirmation_is_not_sent_once_its_slot_has_begun() -> None:
    """The slot is the booking's time: "Booked: Passports, December 6 at 10:30" or its reminder
    at 10:40 points to a time gone. One made after the slot began (a slot booked while it ran)
    told nothing to come and is sent."""
    slot = T0 + timedelta(hours=1)  # 10:30 in Paris
    waiting = Standing("+447700900200", False, QUEUE, Watch(SUB, ()), {})
    sub = Addressee(SUB, "tenant", "sms", "en")
    booked = confirmation(sub, _booking(slot), None, T0, "https://q.example")
    assert text(booked).startswith("Booked: Passports, December 6 at 10:30.")
    reminder = _reminder(slot, slot - timedelta(minutes=30))
    for message in (booked, reminder):
        assert obsolete(message, waiting, slot - timedelta(seconds=1)) is None
        why = obsolete(message, waiting, slot + timedelta(minutes=10))
        assert why == "the booking's slot (10:30) has begun", why
    late_booking = confirmation(sub, _booking(slot), None, slot + timedelta(minutes=5), "x")
    assert obsolete(late_booking, waiting, slot + timedelta(minutes=10)) is None


@pytest.mark.parametrize(
    ("at", "grace_s", "language", "words"),
    [
        # The same day: the time alone.
        (T0, 900, "en", "A-006: you missed your turn. Back by 09:45 to keep your place."),
        # 23:50, back by 00:20: tomorrow, said.
        (T0.replace(hour=22, minute=50), 1800, "en",
         "A-006: you missed your turn. Back by December 7 at 00:20."),
        (T0.replace(hour=22, minute=50), 1800, "fr",
         "A-006 : tour manqué. Revenez avant le 7 décembre à 00:20."),
        (T0.replace(hour=22, minute=50), 1800, "de",
         "A-006: Aufruf verpasst. Zurück bis zum 7. Dezember, 00:20 Uhr."),
        (T0.replace(hour=22, minute=50), 1800, "es",
         "A-006: turno perdido. Vuelva antes del 7 de diciembre, 00:20."),
        # A day's grace at 09:30: "back by 09:30" would read as gone already.
        (T0, 86_400, "en",
         "A-006: you missed your turn. Back by December 7 at 09:30."),
        # 23:55, back by 23:59: the same day, no date (the queue's day, not UTC's: 22:55 UTC).
        (T0.replace(hour=22, minute=55), 240, "es",
         "A-006: turno perdido. Vuelva a la fila antes de las 23:59."),
    ],
)  # fmt: skip
def test_the_day_is_said_when_the_time_to_come_back_is_not_today(
    at: datetime, grace_s: int, language: str, words: str
) -> None:
    said = text(missed(at, grace_s, language))
    assert said.startswith(words + " https://q.example/t/ticket-1"), said
