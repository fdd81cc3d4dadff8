"""An email's HTML part, made from the very text its plain part carries, so that the two never
say different things and no tenant template has to be written twice.

The text is a tenant's words and a person's name (a template, a queue or an organisation may be
called `<script>`): every character of it is escaped, and the only markup is ours: paragraphs
(blank lines), line breaks, and links made of the `http://` and `https://` addresses in it (no
other scheme, so no `javascript:`). What can be found reliably is styled, nothing is guessed:
the ticket's page (the message's own `ticket_url`, token included) as a button-like link, the
ticket's number when the text begins with it, the opt-out line as a small footer.

Mail clients strip `<style>` and block remote content, and dark modes recolour what they can:
so inline styles only, nothing loaded from anywhere (no image, font or stylesheet), no colour
on the text or the background (the reader's client chooses both; white text on a fixed
background disappears when a client lightens it), and one link colour readable on white and on
black alike (#2f6fdb: 4.7:1 and 4.4:1).

Pure: no I/O; notifications/channels/email.py puts it beside the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import escape
from urllib.parse import urlsplit

# An address as a reader's client would linkify it; what ends a sentence after it is not part
# of it ("...at https://q.example.org/t/1." links to /t/1).
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}"
_PARAGRAPHS = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")

_FONT = "-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
_LINK = "#2f6fdb"
_BODY = (
    f"max-width:600px;margin:0 auto;padding:24px 16px;font-family:{_FONT};font-size:16px;"
    "line-height:1.5"
)
# Outlook for Windows (Word's renderer) ignores a div's max-width: its conditional comments give
# it a 600 px table instead; every other client skips them as comments.
_OUTLOOK_OPEN = (
    '<!--[if mso]><table role="presentation" width="600" align="center" cellpadding="0" '
    'cellspacing="0" border="0"><tr><td><![endif]-->'
)
_OUTLOOK_CLOSE = "<!--[if mso]></td></tr></table><![endif]-->"
_PARAGRAPH = "margin:0 0 16px"
_ANCHOR = f"color:{_LINK};word-break:break-all"
_BUTTON = (
    f"display:inline-block;padding:10px 18px;border:2px solid {_LINK};border-radius:6px;"
    f"color:{_LINK};font-weight:bold;text-decoration:none;word-break:break-all"
)
_NUMBER = "font-size:28px;font-weight:bold;line-height:1.2"
_FOOTER = "margin:32px 0 0;padding-top:12px;border-top:1px solid #999999;font-size:12px"


def page(
    text: str,
    *,
    language: str,
    ticket_url: str | None = None,
    number: str | None = None,
    footer: str | None = None,
) -> str:
    """The HTML document of an email whose text is `text` (then, after a blank line, `footer`:
    the opt-out line), in `language`. `ticket_url` (the link to the ticket's page as the text
    has it) is shown as a button; `number` is shown large when the text begins with it."""
    paragraphs = [p for p in _PARAGRAPHS.split(text.replace("\r\n", "\n").strip()) if p.strip()]
    body = [
        f'<p style="{_PARAGRAPH}">{_paragraph(p, ticket_url, number if i == 0 else None)}</p>'
        for i, p in enumerate(paragraphs)
    ]
    if footer is not None:
        body.append(f'<p style="{_FOOTER}">{_paragraph(footer.strip(), None, None)}</p>')
    return (
        f'<!DOCTYPE html>\n<html lang="{_lang(language)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        '<meta name="supported-color-schemes" content="light dark">\n'
        f'</head>\n<body style="margin:0;padding:0">\n{_OUTLOOK_OPEN}<div style="{_BODY}">\n'
        + "\n".join(body)
        + f"\n</div>{_OUTLOOK_CLOSE}\n</body>\n</html>\n"
    )


def _lang(language: str) -> str:
    """The message's language as an HTML `lang` ("fr_CA" is "fr-CA"); "und" (undetermined) for
    what is not a language tag."""
    tag = language.strip().replace("_", "-")
    return tag if _LANGUAGE.fullmatch(tag) else "und"


def _paragraph(text: str, ticket_url: str | None, number: str | None) -> str:
    """One paragraph: its lines escaped and linked, joined by line breaks."""
    lead = ""
    if number and text.startswith(number) and not text[len(number) : len(number) + 1].isalnum():
        lead, text = f'<span style="{_NUMBER}">{escape(number)}</span>', text[len(number) :]
    lines = (_linked(line.strip(" \t"), ticket_url) for line in text.split("\n"))
    return lead + "<br>\n".join(lines)


def _linked(line: str, ticket_url: str | None) -> str:
    return "".join(_pieces(line, ticket_url))


def _shown(url: str) -> str:
    """The ticket page's address as its button shows it: where it goes (host and path), without
    the scheme and the token (a credential, which a reader need not see, nor someone beside
    them)."""
    parts = urlsplit(url)
    return parts.netloc + parts.path


def _pieces(line: str, ticket_url: str | None) -> Iterator[str]:
    """The line escaped, its addresses as links (the ticket's page as a button)."""
    at = 0
    for found in _URL.finditer(line):
        url = found.group().rstrip(_TRAILING)
        if url.endswith("://"):
            continue
        yield escape(line[at : found.start()])
        if url == ticket_url:
            yield f'<a href="{escape(url)}" style="{_BUTTON}">{escape(_shown(url))}</a>'
        else:
            yield f'<a href="{escape(url)}" style="{_ANCHOR}">{escape(url)}</a>'
        at = found.start() + len(url)
    yield escape(line[at:])
