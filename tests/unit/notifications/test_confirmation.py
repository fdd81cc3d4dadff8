"""The confirmation a new subscription gets at once: the place as the ticket's page shows it,
nothing made up when the read side has not seen the ticket yet, a booking's day and time, and
one id per subscription (a retried request makes the same message)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifications.confirmation import Addressee, Subscribed, confirmation, message_id, seen
from notifications.templates import default_template, render, variables_for
from projections.queries import TicketRead

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
TICKET = Subscribed("tenant", "queue-a", "ticket-1", "Passports", "A-006")
BOOKING = Subscribed(
    "tenant",
    "queue-a",
    "booking-1",
    "Passports",
    slot_at=datetime(2026, 12, 6, 9, 30, tzinfo=UTC),
    time_zone="Europe/Paris",
)


def _subscription(channel: str = "sms", language: str = "en") -> Addressee:
    return Addressee("sub-1", "tenant", channel, language)


def _read(position: int | None, status: str = "waiting") -> TicketRead:
    """The ticket as its page's GET reads it: its view, its rank, its current range."""
    eta = {
        f"{level}_at": (NOW + timedelta(minutes=m)).isoformat()
        for level, m in (("p10", 5), ("p50", 8), ("p90", 12))
    }
    view = {"ticket_id": "ticket-1", "number": "A-006", "status": status}
    return TicketRead("queue-a", 41, view, position, eta | {"estimated_at": NOW.isoformat()})


def _text(sub: Addressee, ticket: Subscribed, read: TicketRead | None) -> str:
    message = confirmation(sub, ticket, seen(read, NOW), NOW, "https://q.example")
    template = default_template("subscribed", sub.channel, sub.language)
    return render(template, variables_for("subscribed", message.data)).text


def test_the_place_and_wait_are_the_ones_the_tickets_page_shows() -> None:
    told = seen(_read(3), NOW)
    assert told is not None and (told.position, told.version, told.queue_id) == (3, 41, "queue-a")
    message = confirmation(_subscription(), TICKET, told, NOW, "https://q.example/")
    assert message.id == message_id("sub-1") == "sub-1:subscribed:1"
    assert (message.topic, message.channel, message.created_at) == ("subscribed", "sms", NOW)
    assert message.to == "" and message.subscription_id == "sub-1"  # the address: when sent
    assert (message.ticket_id, message.queue_id) == ("ticket-1", "queue-a")
    assert message.data["people_ahead"] == 2 and message.data["minutes"] == 8
    assert message.data["ticket_url"] == "https://q.example/t/ticket-1"  # no token on the topic
    assert _text(_subscription(), TICKET, _read(3)) == (
        "A-006: you're in line at Passports, 2 ahead, about 8 min. Reply STOP to stop."
    )


def test_a_ticket_the_read_side_has_not_seen_is_told_no_place() -> None:
    """Just enqueued: its number and queue, from the command side; no "0 ahead"."""
    for read in (None, _read(None, "called")):
        assert seen(read, NOW) is None
        assert _text(_subscription(), TICKET, read) == (
            "A-006: you're in line at Passports. Reply STOP to stop."
        )


def test_a_booking_is_told_its_day_and_time_in_the_queues_time_zone() -> None:
    assert _text(_subscription(), BOOKING, None) == (
        "Booked: Passports, December 6 at 10:30. Reply STOP to stop."
    )
    assert _text(_subscription(language="fr"), BOOKING, None) == (
        "RDV : Passports, 6 décembre à 10:30. Répondez STOP pour vous désabonner."
    )


def test_email_has_the_link_and_push_is_short() -> None:
    email = confirmation(_subscription("email"), TICKET, seen(_read(3), NOW), NOW, "https://q")
    template = default_template("subscribed", "email", "en")
    rendered = render(template, variables_for("subscribed", email.data))
    assert rendered.subject == "A-006: you're in line at Passports"
    assert "Follow your place in the queue: https://q/t/ticket-1" in rendered.text
    assert _text(_subscription("push"), TICKET, _read(3)) == (
        "A-006: you're in line at Passports, 2 ahead, about 8 min."
    )
