"""An email to a person is text and HTML made of the same words: the HTML escapes everything a
template or a name holds (only our own markup is markup), links only web addresses, names the
message's language, loads nothing from anywhere; the text part is what the text-only email was,
byte for byte, and the headers are as they were."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from html.parser import HTMLParser
from typing import Any

import pytest

from notifications.channels.email import build
from notifications.email_html import page
from notifications.messages import Message, Rendered
from notifications.optout import optout_url

SENDER = "Virtual Queue <noreply@vq.example.org>"
SUBSCRIPTION = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
TICKET = "https://q.example.org/t/5d6e7f80-1234-4abc-9def-001122334455#token=AbC-_x"
OPTOUT = optout_url("https://q.example.org", "a-deployment-secret-of-some-length", SUBSCRIPTION)
TEXT = (
    "A-006: 2 people ahead at Passports. Please head back.\n\n"
    f"Follow your place in the queue: {TICKET}\n\nCity of Springfield"
)
HOSTILE = (
    "<script>alert(1)</script> <img src=x onerror=alert(2)> \"><a href='javascript:alert(3)'>x"
    "</a> javascript:alert(4) <style>body{background:url(https://evil.example/t.png)}</style>"
)
OURS = {"html", "head", "meta", "body", "div", "p", "br", "a", "span"}


class _Tags(HTMLParser):
    """Every tag of a document, with its attributes, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(document: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(document)
    return parser.tags


def _links(document: str) -> list[dict[str, str | None]]:
    return [attrs for tag, attrs in _tags(document) if tag == "a"]


def test_a_hostile_template_or_name_is_shown_as_text_never_as_markup() -> None:
    document = page(f"{HOSTILE}\n\nHello {HOSTILE}", language="en", footer=f"Stop: {OPTOUT}")
    assert {tag for tag, _ in _tags(document)} <= OURS
    assert "<script" not in document and "<img" not in document and "<style" not in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document  # shown, as the text has it
    assert all(not name.startswith("on") for _, attrs in _tags(document) for name in attrs)
    # Its web address is a link (as a text-only client shows it), never something loaded.
    evil = "https://evil.example/t.png"
    assert [link["href"] for link in _links(document)] == [evil, evil, OPTOUT]
    assert not any(
        name in {"src", "srcset", "background"} for _, a in _tags(document) for name in a
    )


def test_only_web_addresses_become_links_escaped_and_without_the_full_stop_after_them() -> None:
    text = (
        'See https://q.example.org/a?x=1&y="2" and HTTP://q.example.org/b. Not ftp://q.example.org'
        " nor javascript:alert(1) nor data:text/html,x nor https://"
    )
    document = page(text, language="en")
    hrefs = [link["href"] for link in _links(document)]
    assert hrefs == ["https://q.example.org/a?x=1&y=", "HTTP://q.example.org/b"]
    assert 'href="https://q.example.org/a?x=1&amp;y="' in document  # escaped in the attribute
    assert "&quot;2&quot; and" in document


def test_the_ticket_link_is_a_button_and_the_opt_out_a_small_footer() -> None:
    document = page(TEXT, language="en", ticket_url=TICKET, footer=f"Stop these messages: {OPTOUT}")
    ticket, optout = _links(document)
    assert ticket["href"] == TICKET and "border:2px solid" in (ticket["style"] or "")
    # The button says where it goes; the token (a credential) is in the link, not on the screen.
    assert ">q.example.org/t/5d6e7f80-1234-4abc-9def-001122334455</a>" in document
    assert optout["href"] == OPTOUT and "border" not in (optout["style"] or "")
    footer = document.rsplit("<p ", 1)[1]
    assert "font-size:12px" in footer and f">{OPTOUT}</a>" in footer
    assert "Stop these messages: <a " in footer


def test_paragraphs_from_blank_lines_line_breaks_kept_and_the_number_large() -> None:
    document = page("A-006: your turn\nat counter 2\n\n\n  \nCity of Springfield", language="en",
                    number="A-006")  # fmt: skip
    paragraphs = [tag for tag, _ in _tags(document) if tag == "p"]
    assert len(paragraphs) == 2 and "your turn<br>\nat counter 2</p>" in document
    assert '<span style="font-size:28px;font-weight:bold;line-height:1.2">A-006</span>:' in document
    # Not guessed: a number the text does not begin with is left as it is.
    assert "<span" not in page("Now A-006: your turn", language="en", number="A-006")
    assert "<span" not in page("A-0061: your turn", language="en", number="A-006")


@pytest.mark.parametrize(
    ("language", "lang"),
    [("fr", "fr"), ("fr_CA", "fr-CA"), ("de-DE", "de-DE"), ('en" onload="alert(1)', "und")],
)
def test_the_document_is_in_the_message_language_and_utf_8(language: str, lang: str) -> None:
    document = page("Bonjour à tous", language=language)
    [attrs] = [attrs for tag, attrs in _tags(document) if tag == "html"]
    assert attrs == {"lang": lang}
    assert '<meta charset="utf-8">' in document and "Bonjour à tous" in document


def test_nothing_is_loaded_from_anywhere_and_no_colour_is_fixed_on_text_or_background() -> None:
    document = page(TEXT, language="en", ticket_url=TICKET, number="A-006", footer=OPTOUT)
    for remote in ("src=", "url(", "<style", "<link", "@import", "<img", "background"):
        assert remote not in document, remote
    assert "max-width:600px" in document
    styled = [attrs.get("style") or "" for tag, attrs in _tags(document) if tag != "a"]
    assert not any("color:" in style for style in styled)  # links only: the reader's own colours


def _message(subscription: str | None = SUBSCRIPTION, **data: Any) -> Message:
    return Message(
        id=f"{SUBSCRIPTION}:ahead-3:1",
        tenant_id="tenant",
        channel="email",
        to="Zoë <zoe@example.org>",
        topic="ahead",
        created_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        order_key="ticket",
        language="fr",
        subscription_id=subscription,
        data=data,
    )


def _parts(raw: bytes) -> tuple[EmailMessage, EmailMessage, EmailMessage]:
    mail = message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    text, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    return mail, text, html


def test_an_email_to_a_person_is_its_text_then_the_same_words_as_html() -> None:
    rendered = Rendered(f"{TEXT}\n\n<b>Zoë</b>", "A-006 : bientôt votre tour")
    raw, _ = build(_message(ticket_url=TICKET, number="A-006"), rendered, SENDER, OPTOUT)
    mail, text, html = _parts(raw)
    assert mail.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mail.iter_parts()] == ["text/plain", "text/html"]
    words = f"{rendered.text}\n\nNe plus recevoir ces messages : {OPTOUT}"
    # Byte for byte what the text-only email carried: MIMEText's base64 of the same text.
    assert text.get_payload() == MIMEText(words, "plain", "utf-8").get_payload()
    assert text.get_content() == words
    document = html.get_content()
    assert [link["href"] for link in _links(document)] == [TICKET, OPTOUT]
    assert '<html lang="fr">' in document and "&lt;b&gt;Zoë&lt;/b&gt;" in document
    # What compat32's own classes make of the two parts (written by hand for speed).
    parts = [MIMEText(words, "plain", "utf-8"), MIMEText(document, "html", "utf-8")]
    for part in parts:
        del part["MIME-Version"]
    reference = MIMEMultipart("alternative", mail.get_boundary(), parts).as_bytes()
    assert raw.split(b"\n\n", 1)[1] == reference.split(b"\n\n", 1)[1]


def test_the_headers_are_those_of_the_text_only_email() -> None:
    message = _message(ticket_url=TICKET)
    rendered = Rendered(TEXT, "A-006 : bientôt votre tour à la Préfecture de la Haute-Garonne")
    raw, _ = build(message, rendered, SENDER, OPTOUT)
    plain, _ = build(message, Rendered(f"{TEXT}\n\nStop", rendered.subject), SENDER)
    content = (b"Content-Type:", b" boundary=", b"Content-Transfer-Encoding:", b"Date:")

    def headers(raw: bytes) -> list[bytes]:
        lines = raw.split(b"\n\n", 1)[0].split(b"\n")
        return [line for line in lines if not line.startswith(content)]

    unsubscribe = [f"List-Unsubscribe: <{OPTOUT}>".encode(), b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"]  # fmt: skip
    assert headers(raw) == headers(plain) + unsubscribe
    assert raw.startswith(b'Content-Type: multipart/alternative;\n boundary="vq-alternative-')


def test_an_email_without_an_opt_out_stays_text_only() -> None:
    raw, _ = build(_message(None), Rendered("Counter 2 idle", "Alert"), SENDER)
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail.get_content_type() == "text/plain" and b"text/html" not in raw
