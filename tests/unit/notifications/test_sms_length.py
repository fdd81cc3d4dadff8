"""Every default SMS to a ticket holder is one SMS: with a 20-character queue name, a 6-character
number and the ticket's real link, its words stay within 160 characters of the GSM 7-bit alphabet.
One character outside that alphabet makes the whole message UCS-2 (70 characters a part), and each
part is billed."""

from __future__ import annotations

import itertools
import uuid
from datetime import date
from typing import Any

import pytest

from core.tokens import ticket_token
from notifications.default_templates import LINKED, counter_label
from notifications.reminders import day_words
from notifications.templates import LANGUAGES, TICKET_TOPICS, TOPICS, default_template, render

# GSM 03.38: the basic alphabet (one septet each) and its extension table (two: escape + char).
GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
ONE_SMS = 160

QUEUE = "Ayuntamiento Central"  # 20 characters
NUMBER = "PA-123"
TICKET_ID = str(uuid.UUID(int=7))
# The ticket's page as the delivery stage sends it: a 22-character public URL, the id, the token.
LINK = f"https://vq.example.org/t/{TICKET_ID}#token={ticket_token('secret', TICKET_ID)}"
FEEDBACK = "https://clinic.example/feedback?q=passports"

# The values that make each topic's words longest, and the other branches of its `if`s.
VARIANTS: dict[str, dict[str, tuple[Any, ...]]] = {
    "ahead": {"people_ahead": (0, 1, 9, None)},
    "eta": {"minutes": (None, 1, 120)},
    "called": {"counter": (None, "2", "Window 12")},
    "recalled": {"counter": (None, "2", "Window 12")},
    "returned": {"people_ahead": (None, 1, 42)},
    "served": {"feedback_url": (None, FEEDBACK)},
    # A ticket's place and wait (or none known yet), or a booking's day (no number, no place).
    "subscribed": {
        "people_ahead": (None, 0, 9),
        "minutes": (None, 1, 120),
        "slot_day": (None, date(2026, 9, 30), date(2026, 9, 1)),
    },
    # A transfer's new number, a merge's same one, or none known; the longest place words.
    "moved": {"previous_number": (None, "PB-456", NUMBER), "people_ahead": (None, 0, 1, 42)},
    # No grace (the ticket ended), today's time, or another day's: the longest days in words.
    "missed": {
        "return_time": (None, "10:45"),
        "return_day": (None, date(2026, 9, 30), date(2026, 9, 1), date(2026, 8, 1)),
    },
    # The longest days in words ("30 de septiembre", "1er septembre"), and "août" (in an SMS).
    "reminder": {"slot_day": (date(2026, 9, 30), date(2026, 9, 1), date(2026, 8, 1))},
    # Staff, the person, a close that sent those waiting home; or not known (the positions topic).
    "cancelled": {"cancelled_by": (None, "staff", "customer", "closing")},
}


def septets(text: str) -> int:
    return sum(2 if c in GSM7_EXTENSION else 1 for c in text)


def _values(topic: str, language: str) -> list[dict[str, Any]]:
    base: dict[str, Any] = {
        "number": NUMBER,
        "queue_name": QUEUE,
        "ticket_url": LINK,
        "text": "We close at 17:00 today; everyone with a ticket will still be served.",
        "slot_time": "10:30",
        "slot_date": "2026-03-14",
    }
    varied = VARIANTS.get(topic, {})
    found = []
    for combination in itertools.product(*varied.values()):
        values = {**base, **dict(zip(varied, combination, strict=True))}
        values["counter_label"] = counter_label(values.get("counter"), language)
        if "slot_day" in values:  # as reminders.py writes it
            day = values.pop("slot_day")
            values["slot_date"] = None if day is None else day_words(day, language, "sms")
        if "return_day" in values:  # as fanout.py writes it, with a time to come back by only
            day = values.pop("return_day")
            told = day is not None and values["return_time"] is not None
            values["return_date"] = day_words(day, language, "sms") if told else None
        if topic == "subscribed" and values["slot_date"] is not None:  # a booking's
            values |= {"number": None, "people_ahead": None, "minutes": None}
        if topic == "subscribed" and values["slot_date"] is None:  # a ticket's
            values["slot_time"] = None
        found.append(values)
    return found


@pytest.mark.parametrize(
    ("topic", "language"), [(t, lang) for t in TICKET_TOPICS for lang in LANGUAGES]
)
def test_every_sms_is_one_gsm_7_sms(topic: str, language: str) -> None:
    template = default_template(topic, "sms", language)
    for values in _values(topic, language):
        text = render(template, {**dict.fromkeys(("position", "wait_range")), **values}).text
        outside = sorted({c for c in text if c not in GSM7 and c not in GSM7_EXTENSION})
        assert not outside, (outside, text)  # any one of them makes it UCS-2: 70 a part
        assert septets(text) <= ONE_SMS, (septets(text), text)
        assert NUMBER in text or topic == "reminder" or values["number"] is None, text
        assert LINK in text or topic not in ("reminder", *LINKED), text
        assert text.endswith(" Reply STOP to stop.") or language != "en" or topic != "subscribed"


def test_the_confirmation_says_how_to_stop_by_sms_and_whatsapp_not_by_push() -> None:
    """Carriers expect an opt-in confirmation to say how to stop; a push is stopped in the
    browser. In the message's language; "STOP" is the word Twilio and optout.py know."""
    values = {"number": NUMBER, "queue_name": QUEUE, "people_ahead": 2, "minutes": 8}
    for channel in ("sms", "whatsapp", "push"):
        for language in LANGUAGES:
            template = default_template("subscribed", channel, language)
            text = render(template, {**dict.fromkeys(TOPICS["subscribed"]), **values}).text
            assert ("STOP" in text) == (channel != "push"), text
            assert " 2 " in text and " 8 " in text, text
    english = default_template("subscribed", "sms", "en")
    shown = render(english, {**dict.fromkeys(TOPICS["subscribed"]), **values}).text
    assert (
        shown == f"{NUMBER}: you're in line at {QUEUE}, 2 ahead, about 8 min. Reply STOP to stop."
    )


def test_the_checks_would_see_a_long_or_ucs_2_message() -> None:
    assert septets("a" * 160) == 160 and septets("€" * 80) == 160
    assert {"\u2019", "\u2013", "\u2026", "á", "í", "ó", "ú", "ê", "ô", "ç"}.isdisjoint(GSM7)
