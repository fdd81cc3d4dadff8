"""Single sign-on with OpenID Connect, per organisation: the authorization code flow with PKCE.

`begin` makes the provider's authorization URL (state, nonce and an S256 code challenge) and
keeps what the callback needs in Redis for ten minutes, once (GETDEL); `take` gets it back.
`identify` exchanges the code at the token endpoint (client_secret_basic), validates the ID
token (signature against the provider's JWKS, issuer, audience and azp, nonce, expiry and issue
time) and, when the ID token leaves the email or the role claim to the UserInfo endpoint, reads
that too. `role_for` and `refusal` decide who may come in, as what.

Every request to a provider goes through the SSRF guard of notifications/outbound.py (a private
or loopback provider only where VQ_OUTBOUND_ALLOW allows it), with no redirect, no proxy from the
environment, bounded time and a bounded answer. A provider that does not answer is a 503
(`ProviderUnavailable`); a wrong answer is `SsoFailed`, whose text is safe to show.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cachetools import TTLCache
from redis.exceptions import RedisError

from access.permissions import PERSON_ROLES, Role
from access.sso_provider import (
    IssuerHttp,
    ProviderUnavailable,
    SsoFailed,
    UnknownKey,
    validate_id_token,
)
from access.sso_store import SsoSettings

STATE_TTL_S = 600
DISCOVERY_TTL_S = 3600.0
JWKS_TTL_S = 3600.0
# A token signed with a key the cached JWKS lacks refetches it, at most this often (rotation).
JWKS_REFETCH_S = 30.0
BASE_SCOPES = ("openid", "email", "profile")
_MAX_STATE = 200
# Issuers (and their JWKS) remembered per process; admins choose issuers, so it is bounded.
_CACHE_MAX = 1_000
# The most privileged role wins when a person's claim maps to several.
_RANK = {role: rank for rank, role in enumerate(PERSON_ROLES)}


class SsoStateUnavailable(ProviderUnavailable):
    retry_after_s = 2
    public_detail = "sign-in state cannot be kept right now (Redis is unavailable); retry"


@dataclass(frozen=True, slots=True)
class Discovery:
    """The part of a provider's discovery document the code flow uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    scopes_supported: tuple[str, ...]

    @classmethod
    def parse(cls, issuer: str, doc: dict[str, Any]) -> Discovery:
        if doc.get("issuer") != issuer:
            raise SsoFailed("the discovery document names another issuer than the one configured")
        urls = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
            value = doc.get(name)
            if value is None and name == "userinfo_endpoint":
                continue
            if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
                raise SsoFailed(f"the discovery document has no usable {name}")
            urls[name] = value
        methods = doc.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise SsoFailed("the provider does not support PKCE with S256")
        auth = doc.get("token_endpoint_auth_methods_supported")
        if isinstance(auth, list) and "client_secret_basic" not in auth:
            raise SsoFailed(
                "the provider does not accept client_secret_basic at its token endpoint"
            )
        scopes = doc.get("scopes_supported")
        return cls(
            issuer=issuer,
            authorization_endpoint=urls["authorization_endpoint"],
            token_endpoint=urls["token_endpoint"],
            jwks_uri=urls["jwks_uri"],
            userinfo_endpoint=urls.get("userinfo_endpoint"),
            scopes_supported=tuple(s for s in scopes if isinstance(s, str))
            if isinstance(scopes, list)
            else (),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Pending:
    """A sign-in between the redirect to the provider and its callback."""

    tenant_id: str
    issuer: str
    client_id: str
    redirect_uri: str
    nonce: str
    code_verifier: str
    # SHA-256 of the value the browser got in a cookie: the callback must come from that browser.
    binding: str

    def bound_to(self, cookie: str | None) -> bool:
        return cookie is not None and hmac.compare_digest(self.binding, _digest(cookie))


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who the provider says signed in (ID token claims, completed by UserInfo)."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool | None
    name: str | None
    claims: dict[str, Any]


def binding_cookie(state: str) -> str:
    """The name of the cookie of this sign-in (one per sign-in: two tabs signing in at once
    do not overwrite each other's)."""
    return "vq_sso_" + _digest(state)[:16]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class Oidc:
    """The OpenID Connect client of every organisation. Discovery documents and JWKS are cached
    per process, per issuer (they are the provider's, the same for every organisation using it)."""

    _discovered: TTLCache[str, Discovery] = TTLCache(_CACHE_MAX, DISCOVERY_TTL_S)
    # jwks_uri -> (when it was fetched, the JWKS)
    _keys: TTLCache[str, tuple[float, dict[str, Any]]] = TTLCache(_CACHE_MAX, JWKS_TTL_S)

    def __init__(
        self, http: IssuerHttp, redis: aioredis.Redis, *, redis_prefix: str, secret_key: str
    ) -> None:
        self._http, self._redis = http, redis
        self._prefix, self._secret_key = redis_prefix, secret_key

    async def discover(self, issuer: str, *, fresh: bool = False) -> Discovery:
        cached = self._discovered.get(issuer)
        if cached is not None and not fresh:
            return cached
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        found = Discovery.parse(issuer, await self._http.get_json(url))
        self._discovered[issuer] = found
        return found

    async def begin(
        self, sso: SsoSettings, *, redirect_uri: str, login_hint: str | None = None
    ) -> tuple[str, str, str]:
        """The provider's authorization URL for this sign-in, and the name and value of the
        cookie that binds it to the browser that started it (`binding_cookie`)."""
        meta = await self.discover(sso.issuer)
        state, binding = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        pending = Pending(
            tenant_id=sso.tenant_id,
            issuer=sso.issuer,
            client_id=sso.client_id,
            redirect_uri=redirect_uri,
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),
            binding=_digest(binding),
        )
        try:
            await self._redis.set(self._key(state), json.dumps(asdict(pending)), ex=STATE_TTL_S)
        except (TimeoutError, RedisError, OSError) as exc:
            raise SsoStateUnavailable(f"cannot keep sign-in state: {exc}") from exc
        params = {
            "response_type": "code",
            "client_id": sso.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(_scopes(sso, meta)),
            "state": state,
            "nonce": pending.nonce,
            "code_challenge": create_s256_code_challenge(pending.code_verifier),
            "code_challenge_method": "S256",
            **({"login_hint": login_hint} if login_hint else {}),
        }
        return _with_query(meta.authorization_endpoint, params), binding_cookie(state), binding

    async def take(self, state: str) -> Pending | None:
        """The sign-in this state was made for, once: a second call gets None (as does an
        unknown or expired state)."""
        if not state or len(state) > _MAX_STATE:
            return None
        try:
            raw = await self._redis.getdel(self._key(state))
        except (TimeoutError, RedisError, OSError) as exc:
            raise SsoStateUnavailable(f"cannot read sign-in state: {exc}") from exc
        if raw is None:
            return None
        try:
            return Pending(**json.loads(raw))
        except (TypeError, ValueError):  # not a record this version wrote
            return None

    def _key(self, state: str) -> str:
        # The state is a bearer value: Redis keeps its hash only.
        return f"{self._prefix}:sso:state:{_digest(state)}"

    async def identify(self, sso: SsoSettings, pending: Pending, code: str) -> Identity:
        """Exchange the code and validate what comes back; SsoFailed when anything is wrong."""
        meta = await self.discover(sso.issuer)
        try:
            secret = sso.client_secret(self._secret_key)
        except ValueError:
            raise SsoFailed(
                "the organisation's client secret cannot be opened (the deployment's secret "
                "key changed): an admin must set it again"
            ) from None
        answer = await self._http.post_form(
            meta.token_endpoint,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": pending.redirect_uri,
                "code_verifier": pending.code_verifier,
            },
            basic=(sso.client_id, secret),
        )
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise SsoFailed("the provider's token answer has no ID token")
        claims = await self._validated(meta, id_token, sso, pending.nonce)
        access_token = answer.get("access_token")
        wanted = ("email", sso.role_claim.split(".")[0])
        if (
            meta.userinfo_endpoint
            and isinstance(access_token, str)
            and str(answer.get("token_type", "")).lower() == "bearer"
            and any(name not in claims for name in wanted)
        ):
            info = await self._http.get_json(meta.userinfo_endpoint, bearer=access_token)
            if info.get("sub") != claims["sub"]:
                raise SsoFailed("the provider's UserInfo answer is about someone else")
            claims = {**info, **claims}
        return _identity(sso.issuer, claims)

    async def _validated(
        self, meta: Discovery, token: str, sso: SsoSettings, nonce: str
    ) -> dict[str, Any]:
        keys = await self._jwks(meta.jwks_uri)
        try:
            return validate_id_token(
                token, keys, issuer=sso.issuer, client_id=sso.client_id, nonce=nonce
            )
        except UnknownKey:
            fetched = self._keys.get(meta.jwks_uri, (0.0, {}))[0]
            if time.monotonic() - fetched < JWKS_REFETCH_S:
                raise
        keys = await self._jwks(meta.jwks_uri, fresh=True)  # the provider rotated its keys
        return validate_id_token(
            token, keys, issuer=sso.issuer, client_id=sso.client_id, nonce=nonce
        )

    async def _jwks(self, uri: str, *, fresh: bool = False) -> dict[str, Any]:
        cached = self._keys.get(uri)
        if cached is not None and not fresh:
            return cached[1]
        found = await self._http.get_json(uri)
        if not isinstance(found.get("keys"), list):
            raise SsoFailed("the provider's JWKS has no keys")
        self._keys[uri] = (time.monotonic(), found)
        return found


def _scopes(sso: SsoSettings, meta: Discovery) -> list[str]:
    """openid, email, profile, the organisation's own, and the role claim's namesake scope when
    the provider offers one (as Okta's and many others' `groups`)."""
    claim_scope = [sso.role_claim] if sso.role_claim in meta.scopes_supported else []
    return list(dict.fromkeys((*BASE_SCOPES, *sso.scopes, *claim_scope)))


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _identity(issuer: str, claims: dict[str, Any]) -> Identity:
    email, verified, name = claims.get("email"), claims.get("email_verified"), claims.get("name")
    return Identity(
        issuer=issuer,
        subject=claims["sub"],
        email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
        email_verified=verified if isinstance(verified, bool) else None,
        name=name.strip()[:200] if isinstance(name, str) and name.strip() else None,
        claims=claims,
    )


# -- who may come in, as what ----------------------------------------------------------------------


def claim_values(claims: dict[str, Any], name: str) -> list[str]:
    """The values of a claim: a string or a list of strings, by its name or a dotted path into
    nested objects (Keycloak's `realm_access.roles`)."""
    found: Any = claims.get(name)
    if found is None and "." in name:
        found = claims
        for part in name.split("."):
            found = found.get(part) if isinstance(found, dict) else None
    if isinstance(found, str):
        return [found]
    if isinstance(found, list):
        return [v for v in found if isinstance(v, str)]
    return []


def role_for(sso: SsoSettings, claims: dict[str, Any]) -> Role | None:
    """The role the organisation maps the person's claim to (the most privileged, when several
    values map), else its default role; None: no role (refused)."""
    mapped = [sso.role_map[v] for v in claim_values(claims, sso.role_claim) if v in sso.role_map]
    if mapped:
        return min(mapped, key=lambda role: _RANK[role])
    return sso.default_role


def refusal(sso: SsoSettings, who: Identity) -> str | None:
    """Why this person may not sign in (safe to show), or None."""
    if who.email is None or "@" not in who.email:
        return "the provider gave no email address"
    if who.email_verified is False:
        return "the provider says this email address is not verified"
    domain = who.email.rsplit("@", 1)[1]
    if sso.email_domains and domain not in sso.email_domains:
        return f"email addresses at {domain} may not sign in to this organisation"
    if role_for(sso, who.claims) is None:
        return f"no role is mapped to this person's {sso.role_claim!r} claim"
    return None
