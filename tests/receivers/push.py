"""A web push service on loopback, strict the way real ones are (RFC 8030, 8291, 8292):

* the `Authorization: vapid t=<JWT>,k=<key>` header is required; the JWT must be ES256, signed by
  the key in `k=`, for this service's origin (`aud`), unexpired and at most 24 h long, with a
  `sub`; else 401/403;
* a TTL header is required (400), the body is `Content-Encoding: aes128gcm` and at most 4096
  bytes (413), and it must decrypt with the subscription's keys (400);
* a subscription told `gone` answers 410 (the browser unsubscribed); `answer(sub, status)` sets
  any other status.

    with PushReceiver() as push:
        subscription = push.subscribe()        # what a browser would hand us
        message = Message(..., channel="push", to=subscription.json)
        ...
        [delivery] = await push.wait_for(1)
        assert json.loads(delivery.plaintext)["body"] == "..."
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import jwt as vapid_jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.receivers import HttpReceiver, wait_until

MAX_BODY = 4096


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class BrowserSubscription:
    """The browser's half: its key pair and auth secret, and the endpoint it was given."""

    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def info(self) -> dict[str, Any]:
        """`PushSubscription.toJSON()`."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": _b64url(point), "auth": _b64url(self.auth)},
        }

    @property
    def json(self) -> str:
        return json.dumps(self.info)


@dataclass(frozen=True)
class PushDelivery:
    """One request to an endpoint; `plaintext` is set when it was accepted (and decrypted)."""

    subscription_id: str
    status: int
    headers: dict[str, str]
    at: float
    plaintext: bytes | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    vapid_key: str | None = None  # the `k=` of the Authorization header
    error: str | None = None


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def vapid_claims(authorization: str | None, audience: str) -> tuple[dict[str, Any], str]:
    """The verified claims of a `vapid t=...,k=...` header and its key, else Refused."""
    scheme, _, rest = (authorization or "").partition(" ")
    if scheme.lower() != "vapid":
        raise Refused(401, "no vapid Authorization")
    parts = dict(p.strip().split("=", 1) for p in rest.split(",") if "=" in p)
    token, key = parts.get("t", ""), parts.get("k", "")
    try:
        encoded = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        claims = vapid_jwt.decode(token, key)
    except Exception as exc:  # any malformed or forged token is a 401
        raise Refused(401, f"bad VAPID token: {type(exc).__name__}") from exc
    if header.get("alg") != "ES256":
        raise Refused(401, "the JWT is not ES256")
    now = time.time()
    if claims.get("aud") != audience:
        raise Refused(403, f"aud {claims.get('aud')!r} is not {audience!r}")
    if not isinstance(claims.get("exp"), int) or not now < claims["exp"] <= now + 86400:
        raise Refused(403, "exp is missing, past or more than 24 h away")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
        raise Refused(403, "sub is not a mailto: or https: URL")
    return claims, key


class PushReceiver(HttpReceiver):
    def __init__(self) -> None:
        self._subscriptions: dict[str, BrowserSubscription] = {}
        self._statuses: dict[str, int] = {}
        self._deliveries: list[PushDelivery] = []
        route = Route("/push/{subscription_id}", self._push, methods=["POST"])
        super().__init__(Starlette(routes=[route]))

    def subscribe(self) -> BrowserSubscription:
        """A new subscription, as a browser makes it: a P-256 key pair and a 16-byte secret."""
        subscription_id = secrets.token_urlsafe(16)
        subscription = BrowserSubscription(
            subscription_id,
            f"{self.url}/push/{subscription_id}",
            ec.generate_private_key(ec.SECP256R1()),
            secrets.token_bytes(16),
        )
        with self.lock:
            self._subscriptions[subscription_id] = subscription
        return subscription

    def gone(self, subscription: BrowserSubscription) -> None:
        self.answer(subscription, 410)

    def answer(self, subscription: BrowserSubscription, status: int) -> None:
        with self.lock:
            self._statuses[subscription.id] = status

    @property
    def deliveries(self) -> list[PushDelivery]:
        """Every request, the refused ones too."""
        with self.lock:
            return list(self._deliveries)

    @property
    def accepted(self) -> list[PushDelivery]:
        return [d for d in self.deliveries if d.plaintext is not None]

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[PushDelivery]:
        await wait_until(lambda: len(self.accepted) >= count, timeout, f"{count} push(es)")
        return self.accepted

    async def _push(self, request: Request) -> Response:
        subscription_id = request.path_params["subscription_id"]
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self.lock:
            subscription = self._subscriptions.get(subscription_id)
            status = self._statuses.get(subscription_id)
        delivery = PushDelivery(subscription_id, 201, headers, time.time())
        try:
            if subscription is None:
                raise Refused(404, "no such subscription")
            if status is not None:
                raise Refused(status, "told to")
            delivery = self._accept(subscription, delivery, body)
        except Refused as refused:
            delivery = PushDelivery(
                subscription_id, refused.status, headers, delivery.at, error=str(refused)
            )
        with self.lock:
            self._deliveries.append(delivery)
        location = {"location": f"/message/{secrets.token_urlsafe(8)}"}
        return Response(
            delivery.error or b"",
            status_code=delivery.status,
            headers=location if delivery.status == 201 else None,
        )

    def _accept(
        self, subscription: BrowserSubscription, delivery: PushDelivery, body: bytes
    ) -> PushDelivery:
        claims, key = vapid_claims(delivery.headers.get("authorization"), self.url)
        if "ttl" not in delivery.headers:
            raise Refused(400, "no TTL header")
        if delivery.headers.get("content-encoding") != "aes128gcm":
            raise Refused(415, "the content encoding is not aes128gcm")
        if len(body) > MAX_BODY:
            raise Refused(413, "more than 4096 bytes")
        try:
            plaintext = http_ece.decrypt(
                body,
                private_key=subscription.private_key,
                auth_secret=subscription.auth,
                version="aes128gcm",
            )
        except Exception as exc:  # whatever does not decrypt is a 400
            raise Refused(400, f"does not decrypt: {exc}") from exc
        return PushDelivery(
            subscription.id, 201, delivery.headers, delivery.at, bytes(plaintext), claims, key
        )
