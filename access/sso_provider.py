"""Talking to an organisation's OpenID provider: requests through the product's SSRF guard, and
the checks of the ID tokens it signs.

The issuer is chosen by a tenant's admin, so it is an attack surface like a webhook URL: every
address it resolves to must be public or inside a network the operator allowed
(VQ_OUTBOUND_ALLOW, notifications/outbound.py `Guard`), and the connection goes to the vetted
address. No redirect is followed, no proxy from the environment is used, cookies are not kept,
every request is bounded in time and an answer in size.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import json
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import jwt

from core.errors import Unavailable
from notifications.outbound import (
    Guard,
    GuardedResolver,
    OutboundFailed,
    OutboundRefused,
)

CONNECT_S = 3.0
TOTAL_S = 10.0
MAX_ANSWER = 256 * 1024
LEEWAY_S = 60
# Asymmetric signatures only: never `none`, never HS* (that would make the client secret a key).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


def issuer_refusal(issuer: str, guard: Guard) -> str | None:
    """Why this issuer may not be configured: it must be an https URL without query or fragment
    (plain http only at an address the operator allowed: a test's or an intranet's provider)."""
    refused = "an issuer is an https URL without query or fragment"
    try:
        parts = urlsplit(issuer)
        hostname = parts.hostname
    except ValueError:  # "https://[::1": not a URL at all
        return refused
    if not hostname or parts.scheme not in ("http", "https") or parts.query or parts.fragment:
        return refused
    if parts.scheme == "http":
        try:
            address = ipaddress.ip_address(hostname)
        except ValueError:
            address = None
        if address is None or not any(address in n for n in guard.allowed):
            return "plain http only at an address VQ_OUTBOUND_ALLOW allows"
    return None


class SsoFailed(Exception):
    """Single sign-on cannot go on; the text is safe to show (it names no secret)."""


class IssuerRefused(SsoFailed):
    """The issuer's address may not be called from this deployment (SSRF guard)."""


class ProviderUnavailable(Unavailable):
    """The identity provider does not answer (or answers 5xx): a 503, retry later."""

    retry_after_s = 30
    public_detail = "the organisation's identity provider does not answer; retry later"


class IssuerHttp:
    """GET and POST JSON to a provider; a session per call (sign-ins are rare, and a session
    outliving one event loop is a leak)."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    async def get_json(self, url: str, *, bearer: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return await self._call("GET", url, headers, None)

    async def post_form(
        self, url: str, form: dict[str, str], *, basic: tuple[str, str]
    ) -> dict[str, Any]:
        # RFC 6749 2.3.1: the id and secret are form-encoded before they are joined.
        pair = f"{quote(basic[0], safe='')}:{quote(basic[1], safe='')}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
        return await self._call("POST", url, headers, form)

    async def _call(
        self, method: str, url: str, headers: dict[str, str], form: dict[str, str] | None
    ) -> dict[str, Any]:
        try:
            self._check(url)
            where = urlsplit(url).netloc
        except ValueError:  # "https://[::1": a URL urllib cannot take apart
            raise SsoFailed("the identity provider's URL cannot be called") from None
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._guard), force_close=True)
        timeout = aiohttp.ClientTimeout(total=TOTAL_S, connect=CONNECT_S)
        try:
            async with (
                aiohttp.ClientSession(
                    connector=connector,
                    timeout=timeout,
                    trust_env=False,
                    cookie_jar=aiohttp.DummyCookieJar(),
                ) as session,
                session.request(
                    method,
                    url,
                    headers={"Accept": "application/json", **headers},
                    data=form,
                    allow_redirects=False,
                ) as response,
            ):
                status = response.status
                body = await response.content.read(MAX_ANSWER + 1)
                while len(body) <= MAX_ANSWER and not response.content.at_eof():
                    chunk = await response.content.read(MAX_ANSWER + 1 - len(body))
                    if not chunk:
                        break
                    body += chunk
        except OutboundRefused as exc:
            raise IssuerRefused(f"the identity provider may not be called: {exc}") from None
        except (OutboundFailed, aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderUnavailable(f"{method} {where}: {type(exc).__name__}: {exc}") from exc
        except ValueError:  # a URL aiohttp cannot take apart
            raise SsoFailed("the identity provider's URL cannot be called") from None
        return _answer(status, body, where)

    def _check(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SsoFailed("the identity provider's URLs must be http(s) URLs")
        try:
            literal = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return  # a name: the guarded resolver vets what it resolves to
        if not self._guard.permits(literal):
            raise IssuerRefused(f"the identity provider's address {literal} may not be called")


def _answer(status: int, body: bytes, where: str) -> dict[str, Any]:
    if status >= 500 or status == 429:
        raise ProviderUnavailable(f"{where} answered {status}")
    if len(body) > MAX_ANSWER:
        raise SsoFailed("the identity provider's answer is too large")
    try:
        found = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        found = None
    if status != 200:
        error = found.get("error") if isinstance(found, dict) else None
        said = (
            f" ({error})" if isinstance(error, str) and error.isascii() and len(error) < 60 else ""
        )
        raise SsoFailed(f"the identity provider answered {status}{said}")
    if not isinstance(found, dict):
        raise SsoFailed("the identity provider's answer is not a JSON object")
    return found


# -- the ID token ----------------------------------------------------------------------------------


class UnknownKey(SsoFailed):
    """The ID token is signed with a key the provider's JWKS does not have (maybe not yet)."""


def _signing_key(jwks: dict[str, Any], kid: Any, alg: str) -> Any:
    candidates = [
        k
        for k in jwks.get("keys", [])
        if isinstance(k, dict)
        and k.get("use", "sig") == "sig"
        and (kid is None or k.get("kid") == kid)
        and k.get("alg", alg) == alg
    ]
    if len(candidates) != 1:
        raise UnknownKey("the ID token is not signed with one of the provider's keys")
    try:
        return jwt.PyJWK(candidates[0], algorithm=alg).key
    except jwt.PyJWTError:
        raise SsoFailed(f"the provider's key does not fit the ID token's algorithm {alg}") from None


def validate_id_token(
    token: str, jwks: dict[str, Any], *, issuer: str, client_id: str, nonce: str
) -> dict[str, Any]:
    """The ID token's claims, once its signature (against `jwks`), issuer, audience (and azp),
    nonce, expiry and issue time are right; SsoFailed (with a safe reason) otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise SsoFailed("the ID token is not a JWT") from None
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise SsoFailed(f"the ID token's signature algorithm is not accepted ({alg!r})")
    key = _signing_key(jwks, header.get("kid"), alg)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=client_id,
            issuer=issuer,
            leeway=LEEWAY_S,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except jwt.InvalidAudienceError:
        raise SsoFailed("the ID token was issued to another client") from None
    except jwt.InvalidIssuerError:
        raise SsoFailed("the ID token was issued by another provider") from None
    except jwt.ExpiredSignatureError:
        raise SsoFailed("the ID token has expired") from None
    except jwt.InvalidSignatureError:
        raise SsoFailed("the ID token's signature is not valid") from None
    except jwt.PyJWTError as exc:
        raise SsoFailed(f"the ID token is not valid ({type(exc).__name__})") from None
    audiences = [claims["aud"]] if isinstance(claims["aud"], str) else list(claims["aud"])
    azp = claims.get("azp")
    if (azp is not None or len(audiences) > 1) and azp != client_id:
        raise SsoFailed("the ID token was issued to another client (azp)")
    if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
        raise SsoFailed("the ID token's nonce is not this sign-in's")
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise SsoFailed("the ID token's subject is not usable")
    return claims
