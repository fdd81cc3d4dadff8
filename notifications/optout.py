"""Stopping a person's messages from the message itself: the link an email carries (RFC 8058's
one-click `List-Unsubscribe`, and the line at its foot), and the words a text message's reply
stops them with (STOP, as Twilio and the carriers read it).

The link's opaque part names one subscription and can do nothing but stop it: the subscription's
id and an HMAC of it under a key derived from the deployment's secret for this purpose only. It
is not the ticket's token (which cancels the ticket and erases the person's details), and it
cannot be turned into one, nor made for another subscription without the secret.

Pure: no I/O; the HTTP side is notifications_api/routes_optout.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from typing import Literal

from notifications.default_templates import base_language

# What the deployment's secret (VQ_TOKEN_SECRET) is stretched into for opt-out links only: a key
# of its own, so that no other HMAC the secret makes (a ticket's token) is ever an opt-out's.
_PURPOSE = b"vq/optout-link/v1"
_MAC_BYTES = 16
# 16 bytes of id and 16 of MAC, base64url without padding: 43 characters.
TOKEN_LENGTH = 43
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
PATH = "/v1/unsubscribe/"

# The line at the foot of an email, in the message's language (the words' own choice of base
# language: "fr-CA" is "fr", "pt" is "en").
FOOTER: dict[str, str] = {
    "en": "Stop these messages: {url}",
    "fr": "Ne plus recevoir ces messages : {url}",
    "de": "Diese Nachrichten abbestellen: {url}",
    "es": "Dejar de recibir estos mensajes: {url}",
}

# A reply that is exactly one of these words (any case, spaces around it ignored) stops the
# number's messages, as Twilio's own opt-out handling reads it; the opt-in words undo Twilio's
# block, and are only noted here (subscribing again is done on the ticket's page).
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
WHATSAPP = "whatsapp:"


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def _mac(secret: str, ident: bytes) -> bytes:
    return hmac.new(_key(secret), b"subscription:" + ident, hashlib.sha256).digest()[:_MAC_BYTES]


def optout_token(secret: str, subscription_id: str) -> str:
    """The opaque part of a subscription's opt-out link."""
    ident = uuid.UUID(subscription_id).bytes
    return base64.urlsafe_b64encode(ident + _mac(secret, ident)).decode().rstrip("=")


def subscription_of(secret: str, token: str) -> str | None:
    """The subscription an opt-out token names; None for anything the secret did not make (a
    forged, altered or malformed token). The token is compared as it was made (re-encoded), so
    that no other spelling of the same bytes passes."""
    if not _TOKEN.fullmatch(token):
        return None
    raw = base64.urlsafe_b64decode(token + "=")
    ident, mac = raw[:16], raw[16:]
    if not hmac.compare_digest(mac, _mac(secret, ident)):
        return None
    subscription_id = str(uuid.UUID(bytes=ident))
    return subscription_id if optout_token(secret, subscription_id) == token else None


def optout_url(public_url: str, secret: str, subscription_id: str) -> str:
    return f"{public_url.rstrip('/')}{PATH}{optout_token(secret, subscription_id)}"


def footer(language: str, url: str) -> str:
    """The email's last line: how to stop these messages, in the message's language."""
    return FOOTER[base_language(language, FOOTER)].format(url=url)


def keyword(body: str) -> Literal["stop", "start"] | None:
    """What a text message's reply asks: "stop" (an opt-out word), "start" (an opt-in word), or
    None (anything else, a sentence with STOP in it too). ASCII only: Python upper-cases
    some other letters to ASCII ones (the long s, U+017F, to S), which no carrier reads as STOP."""
    word = body.strip()
    if not word.isascii():
        return None
    word = word.upper()
    if word in OPT_OUT_WORDS:
        return "stop"
    if word in OPT_IN_WORDS:
        return "start"
    return None


def sender_channel(sender: str) -> tuple[Literal["sms", "whatsapp"], str]:
    """The channel and the number of an inbound message's `From`: `whatsapp:+44...` is a
    WhatsApp reply, a bare number an SMS."""
    if sender.startswith(WHATSAPP):
        return "whatsapp", sender.removeprefix(WHATSAPP)
    return "sms", sender
