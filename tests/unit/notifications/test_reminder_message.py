"""A booking's reminder, as the person reads it: the day in words of their language and the hour
in the queue's time zone, and the booking's page, where they check in or cancel (found by the
reach probe: "votre rendez-vous à Vaccins est à 22:00 le 2026-12-06", and no link at all)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from core.tokens import token_matches
from notifications.delivery import with_token
from notifications.reminders import day_words, reminder_message
from notifications.store.reminders import DueReminder
from notifications.templates import default_template, render, variables_for

BOOKING = str(uuid.UUID(int=42))
PUBLIC = "https://q.example.org/"
SECRET = "s3cret"
NOW = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)


def due(slot_at: datetime, time_zone: str, language: str, channel: str = "sms") -> DueReminder:
    return DueReminder(
        subscription_id=str(uuid.UUID(int=1)),
        tenant_id=str(uuid.UUID(int=2)),
        queue_id=str(uuid.UUID(int=3)),
        ticket_id=BOOKING,  # a booking's id is its ticket's
        channel=channel,
        language=language,
        slot_at=slot_at,
        due_at=NOW,
        time_zone=time_zone,
        queue_name="Vaccins",
    )


def as_sent(reminder: DueReminder, template_channel: str) -> tuple[str, str | None]:
    """The words the person gets: the message made, its token added as the delivery stage adds
    it, rendered with our default template."""
    message = reminder_message(reminder, {}, NOW, PUBLIC)
    sending, _ = with_token(message, SECRET)
    variables = variables_for("reminder", {**sending.data, "tenant_name": "Clinic"})
    language = reminder.language
    rendered = render(default_template("reminder", template_channel, language), variables)
    return rendered.text, rendered.subject


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", "December 6"),
        ("fr", "6 décembre"),
        ("de", "6. Dezember"),
        ("es", "6 de diciembre"),
        ("fr-CA", "6 décembre"),
        ("pt", "December 6"),  # no words of ours in Portuguese: English, as the templates
    ],
)
def test_the_day_is_written_as_the_language_writes_it(language: str, words: str) -> None:
    assert day_words(date(2026, 12, 6), language) == words


def test_french_firsts_and_august_in_an_sms() -> None:
    assert day_words(date(2026, 8, 1), "fr") == "1er août"
    assert day_words(date(2026, 8, 1), "fr", "sms") == "1er aout"  # "û" is not GSM 7-bit


def test_a_french_sms_reminder_says_the_day_in_words_and_links_the_booking() -> None:
    text, _ = as_sent(due(datetime(2026, 12, 6, 21, 0, tzinfo=UTC), "Europe/Paris", "fr"), "sms")
    assert text.startswith("Rappel : Vaccins, 6 décembre à 22:00. Votre RDV : "), text
    assert "2026-12-06" not in text
    link = text.rsplit(" ", 1)[-1]
    assert link.startswith(f"https://q.example.org/t/{BOOKING}#token="), link
    assert token_matches(SECRET, BOOKING, link.split("#token=")[1])  # it opens the booking


def test_the_slot_is_told_in_the_queue_s_time_zone() -> None:
    slot = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    madrid = reminder_message(due(slot, "Europe/Madrid", "es"), {}, NOW, PUBLIC).data
    assert (madrid["slot_date"], madrid["slot_time"]) == ("7 de diciembre", "00:30")
    new_york = reminder_message(due(slot, "America/New_York", "en"), {}, NOW, PUBLIC).data
    assert (new_york["slot_date"], new_york["slot_time"]) == ("December 6", "18:30")


def test_the_message_on_the_topics_carries_the_page_without_the_token() -> None:
    data = reminder_message(due(NOW, "UTC", "en"), {}, NOW, PUBLIC).data
    assert data["ticket_url"] == f"https://q.example.org/t/{BOOKING}"


def test_the_email_links_the_booking_page_not_a_place_in_the_queue() -> None:
    reminder = due(datetime(2026, 12, 6, 21, 0, tzinfo=UTC), "Europe/Berlin", "de", "email")
    text, subject = as_sent(reminder, "email")
    assert subject == "Erinnerung: Vaccins um 22:00"
    assert "Ihr Termin bei Vaccins ist am 6. Dezember um 22:00 Uhr." in text, text
    assert f"https://q.example.org/t/{BOOKING}#token=" in text, text
    assert "Warteschlange" not in text and text.endswith("\n\nClinic"), text
