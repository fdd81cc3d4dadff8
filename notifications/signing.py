"""Webhook signatures, as the Standard Webhooks spec defines them (standardwebhooks.com).

A message is signed over `{webhook-id}.{webhook-timestamp}.{body}` with HMAC-SHA256 under the
endpoint's secret (`whsec_` + base64 of the key), and sent as `webhook-signature: v1,<base64>`.
While a secret is rotated both the old and the new one sign (space-separated signatures), so a
receiver that knows either verifies. The spec's own test vector is in the tests; so is the
official `standardwebhooks` library verifying what we send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PREFIX = "whsec_"
# A receiver refuses a timestamp further than this from its clock (replay protection).
TOLERANCE_S = 5 * 60
_KEY_BYTES = 24


class InvalidSignature(Exception):
    """The message was not signed by a secret the receiver knows, or is too old or too new."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        return base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except ValueError as exc:
        raise ValueError("a webhook secret is whsec_ and base64") from exc


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of the message under `secret`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    mac = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    message_id: str
    timestamp: int
    signatures: tuple[str, ...]

    def as_dict(self) -> dict[str, str]:
        return {
            "webhook-id": self.message_id,
            "webhook-timestamp": str(self.timestamp),
            "webhook-signature": " ".join(self.signatures),
        }


def sign(secrets_: Iterable[str], message_id: str, timestamp: int, body: bytes) -> SignedHeaders:
    """The headers of a message signed under every secret given (two during a rotation)."""
    signatures = tuple(signature(s, message_id, timestamp, body) for s in secrets_)
    if not signatures:
        raise ValueError("a message needs at least one secret to be signed")
    return SignedHeaders(message_id, timestamp, signatures)


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: int) -> None:
    """Raise InvalidSignature unless one of the message's signatures is `secret`'s and its
    timestamp is within the tolerance of `now` (the receiver's side, for our tests and tools)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        message_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        given = lowered["webhook-signature"].split()
    except (KeyError, ValueError) as exc:
        raise InvalidSignature("missing or malformed webhook headers") from exc
    if abs(now - timestamp) > TOLERANCE_S:
        raise InvalidSignature("the message's timestamp is too far from now")
    expected = signature(secret, message_id, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in given):
        raise InvalidSignature("no signature matches")
