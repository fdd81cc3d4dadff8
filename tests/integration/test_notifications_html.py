"""An email to a person arrives as text and HTML (`multipart/alternative`) through the real
pipeline (the API, the notifier, the local SMTP server of tests/receivers/): the text part is the
text-only email it always was, the HTML part the same words with the ticket's link and the
opt-out link clickable, and a queue named like markup shown as text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.mime.text import MIMEText
from html import escape

import pytest

from core.settings import Settings
from core.tokens import ticket_token
from tests.integration.conftest import ApiClient
from tests.integration.reach import pipeline_running, receiving
from tests.receivers.smtp import SmtpReceiver

STARTUP_S = 40.0
QUEUE = "Passports <b>&</b> visas"


@pytest.fixture
def settings(settings: Settings, smtp: SmtpReceiver) -> Settings:
    return receiving(settings, smtp)


@pytest.fixture
async def pipeline(settings: Settings, topics: list[str]) -> AsyncIterator[None]:
    async with pipeline_running(settings):
        yield


async def test_an_email_to_a_person_is_its_text_and_the_same_words_as_html(
    api: ApiClient, settings: Settings, smtp: SmtpReceiver, pipeline: None
) -> None:
    queue_id = await api.create_queue(name=QUEUE)
    await api.enqueue(queue_id)
    when = {"ahead": 3, "eta_minutes": None, "subscribed": False}
    mine = await api.enqueue(
        queue_id, notify=[{"channel": "email", "address": "ada@example.com", "when": when}]
    )
    ticket_id, number = mine["ticket"]["ticket_id"], mine["ticket"]["number"]
    [mail] = await smtp.wait_for(1, STARTUP_S)  # "1 person ahead", at once: a short line

    assert mail.message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in mail.message.iter_parts()]
    assert parts == ["text/plain", "text/html"]  # the text first: the least preferred
    ticket = f"{settings.public_url}/t/{ticket_id}#token={ticket_token(settings.token_secret, ticket_id)}"  # fmt: skip
    optout = mail.message["List-Unsubscribe"][1:-1]
    words = (
        f"{number}: 1 person ahead at {QUEUE}. Please head back.\n\n"
        f"Follow your place in the queue: {ticket}\n\nClinic\n\nStop these messages: {optout}"
    )
    text = mail.message.get_body(("plain",))
    assert text is not None and mail.text == words
    # The text-only email's body, byte for byte (MIMEText's base64 of the same words; SMTP
    # ends its lines with CRLF).
    sent = MIMEText(words, "plain", "utf-8").get_payload()
    assert text.get_payload() == sent.replace("\n", "\r\n")

    html = mail.html
    assert html is not None and '<html lang="en">' in html
    assert f'<a href="{escape(ticket)}" style="display:inline-block;' in html  # the button
    assert f'<a href="{escape(optout)}"' in html and "Stop these messages: <a " in html
    assert escape(QUEUE) in html and "<b>" not in html
