"""Web push: a message to a browser's push service, encrypted for that browser (RFC 8291) and
signed with our VAPID key (RFC 8292), over outbound HTTP like any other request that leaves.

The push service sees only ciphertext: the payload is encrypted with a fresh ECDH key against the
subscription's `p256dh` key and `auth` secret (aes128gcm, RFC 8188), one record. A 404 or 410
means the browser dropped the subscription: the destination is gone, not worth another try.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import http_ece
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import VapidException

from core.settings import Settings
from notifications.channels.vapid import authorization, b64url_decode, vapid_keys
from notifications.messages import DeliveryFailed, Message, Rendered, Sent
from notifications.outbound import Outbound, OutboundFailed, OutboundRefused

SECONDS = 10.0
# Push services accept 4096 bytes of ciphertext: 86 bytes of header and 17 of tag and padding
# delimiter leave 3993 of plaintext.
MAX_PLAINTEXT = 3993
# Being called is worth waking a phone for, and worthless an hour later.
URGENT_TOPICS = frozenset({"called", "recalled"})
URGENT_TTL_S = 15 * 60
TTL_S = 60 * 60
DEFAULT_TITLE = "Virtual Queue"


@dataclass(frozen=True, slots=True)
class Subscription:
    """What a browser's `PushSubscription.toJSON()` gives: where to post, and its keys."""

    endpoint: str
    p256dh: bytes  # the browser's public key, an uncompressed P-256 point
    auth: bytes  # 16-byte authentication secret

    @classmethod
    def parse(cls, text: str) -> Subscription:
        """Raises ValueError for anything a browser would not have given."""
        try:
            record = json.loads(text)
            endpoint, keys = record["endpoint"], record["keys"]
            p256dh, auth = b64url_decode(keys["p256dh"]), b64url_decode(keys["auth"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a push subscription: {type(exc).__name__}") from exc
        if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
            raise ValueError("a push subscription's endpoint is an http(s) URL")
        if len(p256dh) != 65 or p256dh[0] != 4 or len(auth) != 16:
            raise ValueError("a push subscription's keys are a P-256 point and 16 bytes")
        return cls(endpoint, p256dh, auth)


def payload(message: Message, rendered: Rendered | None) -> bytes:
    """The notification the service worker shows, shortened to what one push may carry."""
    title = (rendered.subject if rendered else None) or str(
        message.data.get("title") or DEFAULT_TITLE
    )
    body = rendered.text if rendered else str(message.data.get("text", ""))
    document: dict[str, Any] = {"title": title, "body": body, "url": message.data.get("ticket_url")}
    encoded = json.dumps(document, ensure_ascii=False).encode()
    while len(encoded) > MAX_PLAINTEXT and document["body"]:
        # Cut in UTF-8 bytes (a cut character is dropped whole); the ellipsis costs three.
        body = document["body"].encode()
        keep = len(body) - (len(encoded) - MAX_PLAINTEXT) - 3
        document["body"] = body[:keep].decode(errors="ignore") + "…" if keep > 0 else ""
        encoded = json.dumps(document, ensure_ascii=False).encode()
    if len(encoded) > MAX_PLAINTEXT:
        raise DeliveryFailed("the push payload does not fit in one message", permanent=True)
    return encoded


def encrypt(plaintext: bytes, subscription: Subscription) -> bytes:
    """RFC 8291: a fresh sender key per message; its public half travels in the body's header."""
    sender = ec.generate_private_key(ec.SECP256R1())
    return bytes(
        http_ece.encrypt(
            plaintext,
            private_key=sender,
            dh=subscription.p256dh,
            auth_secret=subscription.auth,
            version="aes128gcm",
        )
    )


class PushSender:
    def __init__(self, settings: Settings, outbound: Outbound) -> None:
        self._outbound = outbound
        self._key = vapid_keys(settings)
        self._subject = settings.vapid_subject
        # A subject py_vapid refuses (not a mailto: or https: URL) is a configuration error:
        # said at start, not once per message.
        authorization(self._key, "https://push.example", self._subject)

    async def send(self, message: Message, rendered: Rendered | None) -> Sent:
        try:
            subscription = Subscription.parse(message.to)
        except ValueError as exc:
            raise DeliveryFailed(str(exc), permanent=True) from exc
        try:
            signed = authorization(self._key, subscription.endpoint, self._subject)
        except VapidException as exc:  # an endpoint whose origin is no JWT audience
            reason = f"cannot sign for {subscription.endpoint}: {exc}"
            raise DeliveryFailed(reason, permanent=True) from exc
        urgent = message.topic in URGENT_TOPICS
        headers = {
            "Authorization": signed,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(URGENT_TTL_S if urgent else TTL_S),
            "Urgency": "high" if urgent else "normal",
        }
        body = encrypt(payload(message, rendered), subscription)
        try:
            answer = await self._outbound.post(
                subscription.endpoint, headers, body, seconds=SECONDS
            )
        except OutboundRefused as exc:
            raise DeliveryFailed(str(exc), permanent=True) from exc
        except OutboundFailed as exc:
            raise DeliveryFailed(str(exc)) from exc
        excerpt = answer.excerpt.decode(errors="replace")
        sent = Sent(answer.seconds, answer.status, excerpt)
        if 200 <= answer.status < 300:  # 201 Created, as a rule
            return sent
        reason = f"push service answered {answer.status}: {excerpt[:200]}"
        if answer.status in (404, 410):
            raise DeliveryFailed(reason, gone=True, sent=sent)
        transient = answer.status == 429 or answer.status >= 500
        raise DeliveryFailed(reason, permanent=not transient, sent=sent)

    async def aclose(self) -> None:
        """The outbound client is shared; whoever made it closes it."""
