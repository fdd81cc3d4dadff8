"""Stopping messages from the message: the opt-out link's token (it names one subscription, and
nothing the secret did not make passes), the email's RFC 8058 headers and last line, the words a
reply stops texts with, and Twilio's request signature (its documentation's own example)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from core.tokens import ticket_token
from notifications.channels.email import build
from notifications.messages import Message, Rendered
from notifications.optout import (
    TOKEN_LENGTH,
    footer,
    keyword,
    optout_token,
    optout_url,
    sender_channel,
    subscription_of,
)
from notifications.twilio_signature import form_params, signature, signature_matches
from web.optout import optout_page

SECRET = "a-deployment-secret-of-some-length"
SUBSCRIPTION = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def test_a_token_names_its_subscription_and_only_under_its_secret() -> None:
    token = optout_token(SECRET, SUBSCRIPTION)
    assert len(token) == TOKEN_LENGTH
    assert subscription_of(SECRET, token) == SUBSCRIPTION
    assert subscription_of("another-deployment-secret", token) is None
    other = str(uuid.uuid4())
    assert subscription_of(SECRET, optout_token(SECRET, other)) == other
    # Not the ticket's token (which would cancel the ticket), whatever the id.
    assert token != ticket_token(SECRET, SUBSCRIPTION)


def test_every_altered_character_of_a_token_is_refused() -> None:
    token = optout_token(SECRET, SUBSCRIPTION)
    for at in range(len(token)):
        for replacement in ("A", "B", "-", "_", "z"):
            if replacement == token[at]:
                continue
            altered = token[:at] + replacement + token[at + 1 :]
            assert subscription_of(SECRET, altered) is None, (at, replacement)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "x",
        "A" * TOKEN_LENGTH,
        "A" * (TOKEN_LENGTH + 1),
        "!" * TOKEN_LENGTH,
        "é" * TOKEN_LENGTH,
        "A" * (TOKEN_LENGTH - 1) + "\n",
        "5c8484f1-2720-42f8-9438-cee06c96c240",  # fixed: xdist workers collect the same ids
    ],
)
def test_a_forged_or_malformed_token_names_nothing(token: str) -> None:
    assert subscription_of(SECRET, token) is None


def test_the_link_is_under_the_public_url() -> None:
    url = optout_url("https://q.example.org/", SECRET, SUBSCRIPTION)
    assert url == f"https://q.example.org/v1/unsubscribe/{optout_token(SECRET, SUBSCRIPTION)}"


@pytest.mark.parametrize(
    ("language", "start"),
    [
        ("en", "Stop these messages: "),
        ("fr", "Ne plus recevoir ces messages : "),
        ("fr-CA", "Ne plus recevoir ces messages : "),
        ("de", "Diese Nachrichten abbestellen: "),
        ("es", "Dejar de recibir estos mensajes: "),
        ("pt", "Stop these messages: "),
    ],
)
def test_the_last_line_is_in_the_message_language(language: str, start: str) -> None:
    assert footer(language, "https://q.example.org/v1/unsubscribe/t") == (
        start + "https://q.example.org/v1/unsubscribe/t"
    )


def _email(subscription_id: str | None, language: str = "en") -> Message:
    return Message(
        id="sub-1:ahead-3:1",
        tenant_id="tenant",
        channel="email",
        to="ana@example.org",
        topic="ahead",
        created_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        order_key="ticket",
        language=language,
        subscription_id=subscription_id,
    )


def test_an_email_to_a_person_carries_the_one_click_headers_and_the_last_line() -> None:
    url = optout_url("https://q.example.org", SECRET, SUBSCRIPTION)
    raw, _ = build(
        _email(SUBSCRIPTION, "fr"), Rendered("A-006: bientôt", "A-006"), "vq@example.org", url
    )
    mail = message_from_bytes(raw, policy=policy.default)
    assert f"\nList-Unsubscribe: <{url}>\n".encode() in raw  # one line: nothing to unfold
    assert mail["List-Unsubscribe"] == f"<{url}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = mail.get_body(("plain",))
    assert text is not None  # the text part (an HTML one follows: test_email_html.py)
    assert text.get_content().rstrip("\n").endswith(f"\n\nNe plus recevoir ces messages : {url}")


def test_an_email_to_staff_has_no_opt_out() -> None:
    raw, _ = build(_email(None), Rendered("Counter 2 idle", "Alert"), "vq@example.org")
    mail = message_from_bytes(raw, policy=policy.default)
    assert "List-Unsubscribe" not in mail and "List-Unsubscribe-Post" not in mail
    assert mail.get_content_type() == "text/plain"  # an alert stays text only
    assert mail.get_content().rstrip("\n") == "Counter 2 idle"


@pytest.mark.parametrize(
    "body",
    ["STOP", "stop", " Stop \n", "STOPALL", "unsubscribe", "Cancel", "END", "quit", "\tQUIT "],
)
def test_the_opt_out_words_stop(body: str) -> None:
    assert keyword(body) == "stop"


@pytest.mark.parametrize("body", ["START", "unstop", " Start "])
def test_the_opt_in_words_are_told_apart(body: str) -> None:
    assert keyword(body) == "start"


@pytest.mark.parametrize(
    "body", ["", "stop please", "STOP!", "S T O P", "\u017ftop", "STOPP", "Thanks", "HELP", "YES"]
)
def test_anything_else_is_no_keyword(body: str) -> None:
    assert keyword(body) is None


def test_a_whatsapp_reply_is_told_from_an_sms() -> None:
    assert sender_channel("whatsapp:+447700900123") == ("whatsapp", "+447700900123")
    assert sender_channel("+447700900123") == ("sms", "+447700900123")


# Twilio's documented example (the twilio-php request validation guide): auth token 12345, this
# URL, these POST parameters.
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
DOC_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_the_signature_is_twilios_documented_example() -> None:
    assert signature("12345", DOC_URL, DOC_PARAMS.items()) == DOC_SIGNATURE
    shuffled = list(reversed(DOC_PARAMS.items()))  # sorted by name, whatever the order sent
    assert signature_matches("12345", DOC_URL, shuffled, DOC_SIGNATURE)


def test_a_form_body_is_read_as_twilio_signs_it() -> None:
    body = b"To=%2B18005551212&From=%2B14158675309&Digits=1234&Caller=%2B14158675309&CallSid=CA1234567890ABCDE"
    assert signature_matches("12345", DOC_URL, form_params(body), DOC_SIGNATURE)
    assert ("NumMedia", "") in form_params(b"Body=STOP&NumMedia=")  # blank values are signed too


@pytest.mark.parametrize(
    ("token", "url", "params", "given"),
    [
        ("12345", DOC_URL, DOC_PARAMS, None),
        ("12345", DOC_URL, DOC_PARAMS, ""),
        ("12345", DOC_URL, DOC_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8"),
        ("12345", DOC_URL, {**DOC_PARAMS, "Digits": "1235"}, DOC_SIGNATURE),
        ("12345", DOC_URL, {**DOC_PARAMS, "Body": "STOP"}, DOC_SIGNATURE),
        ("12345", "https://mycompany.com/myapp.php", DOC_PARAMS, DOC_SIGNATURE),
        ("54321", DOC_URL, DOC_PARAMS, DOC_SIGNATURE),
        ("", DOC_URL, DOC_PARAMS, DOC_SIGNATURE),
        ("12345", DOC_URL, DOC_PARAMS, "é" * 28),
    ],
)
def test_anything_else_does_not_match(
    token: str, url: str, params: dict[str, str], given: str | None
) -> None:
    assert not signature_matches(token, url, params.items(), given)


def test_the_page_asks_then_says_it_is_done_in_the_subscription_language() -> None:
    asking = optout_page("de-AT", "A-006", "Pässe & <Ausweise>", stopped=False, action="/v1/x")
    assert '<html lang="de">' in asking and '<form method="post" action="/v1/x">' in asking
    assert "zur Nummer A-006 bei Pässe &amp; &lt;Ausweise&gt;." in asking
    done = optout_page("pt", "A-006", "Passports", stopped=True, action="/v1/x")
    assert "<form" not in done
    assert "Done: you will get no more messages about ticket A-006 at Passports." in done
