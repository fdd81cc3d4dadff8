"""Access tokens: short-lived JWTs (RFC 9068 `at+jwt`) signed with the deployment's current key
(ES256, `kid` from the JWKS the API publishes), and the deny-list that makes a sign-out take
effect at once.

Verification trusts nothing the token says about how to verify it: the algorithm is pinned to
ES256 (no `none`, no HS256 keyed with the public key, no RS256), the key is ours by `kid`, and
every claim is checked for presence and type. A token of a signed-out session is refused until
it would have expired anyway; when Redis cannot say whether it was signed out, the request gets a
503, never a pass.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool
from redis.exceptions import RedisError

from access.permissions import ROLES
from access.revocations import publish_revocation
from access.signing_keys import ALG, LEEWAY_S, PUBLISH_AHEAD_S, KeyRing, SigningKey
from core.errors import Unavailable
from core.settings import Settings

TOKEN_TYPE = "at+jwt"
_TYPES = frozenset({"at+jwt", "application/at+jwt"})
# An ES256 access token is about 700 characters; anything far longer is not one of ours.
MAX_TOKEN_CHARS = 4096
_KID = re.compile(r"[A-Za-z0-9_-]{43}")
_REQUIRED = ("iss", "aud", "sub", "tid", "role", "sid", "jti", "iat", "exp", "mfa")


class InvalidToken(Exception):
    """The token is not one of ours, or no longer valid (the reason is safe to show)."""


class DenyListUnavailable(Unavailable):
    """Redis cannot say whether the token's session was signed out: refuse for now (503)."""

    public_detail = "cannot check sign-outs right now (Redis is unavailable); retry later"


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessClaims:
    tenant_id: str
    user_id: str
    role: str
    # The sign-in session (refresh-token family) the token belongs to; ending it denies the token.
    session_id: str
    token_id: str
    expires_at: float
    # Whether the session was opened with a second factor (TOTP or a recovery code) or by SSO.
    mfa: bool
    # The queues a staff member is assigned to; None: every queue of the tenant.
    queues: tuple[str, ...] | None


class KeySource(Protocol):
    """Where signing and verification keys come from (access/signing_keys.py's `KeyRing`)."""

    async def signing_key(self) -> SigningKey: ...

    async def verification_key(self, kid: str) -> SigningKey | None: ...

    async def published(self) -> list[SigningKey]: ...

    async def rotate(self, *, ahead_s: float, actor: str) -> str: ...


class AccessTokens:
    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        redis: aioredis.Redis,
        settings: Settings,
        *,
        keys: KeySource | None = None,
    ) -> None:
        """`keys`: the key source (default: the PostgreSQL-backed ring of `pool`)."""
        self._redis, self._settings = redis, settings
        self._keys: KeySource = keys if keys is not None else KeyRing(pool, settings)

    async def issue(
        self,
        *,
        tenant_id: str,
        user_id: str,
        role: str,
        session_id: str,
        mfa: bool,
        queues: tuple[str, ...] | None,
    ) -> tuple[str, int]:
        """A signed access token and its lifetime in seconds."""
        key = await self._keys.signing_key()
        assert key.private_key is not None  # a signing key has its private part
        ttl = self._settings.access_token_ttl_s
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self._settings.public_url,
            "aud": self._settings.jwt_audience,
            "sub": user_id,
            "tid": tenant_id,
            "role": role,
            "sid": session_id,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + ttl,
            "mfa": mfa,
        }
        if queues is not None:
            claims["queues"] = list(queues)
        token = jwt.encode(
            claims, key.private_key, algorithm=ALG, headers={"kid": key.kid, "typ": TOKEN_TYPE}
        )
        return token, ttl

    async def verify(self, token: str) -> AccessClaims:
        """The claims of a valid token; InvalidToken otherwise (bad signature, `alg` other than
        ES256, unknown `kid`, wrong issuer or audience, expired, or its session ended)."""
        kid = key_id(token)
        key = await self._keys.verification_key(kid)
        if key is None:
            raise InvalidToken("signed with an unknown key")
        claims = decode(token, key, self._settings)
        if await self._denied(claims.session_id):
            raise InvalidToken("signed out")
        return claims

    async def deny_session(self, session_id: str) -> None:
        """Every access token of this session is refused from now on (until they expire), and
        the live connections opened with them end (on every API process)."""
        seconds = self._settings.access_token_ttl_s + LEEWAY_S
        try:
            await self._redis.set(self._deny_key(session_id), b"1", ex=seconds)
        except (RedisError, OSError) as exc:  # OSError: timeouts too
            raise DenyListUnavailable(f"cannot deny session: {type(exc).__name__}") from exc
        await publish_revocation(self._redis, self._settings.redis_prefix, "session_id", session_id)

    async def jwks(self) -> dict[str, Any]:
        """The public keys tokens may be verified with (current, next and recently retired)."""
        return {"keys": [dict(key.public_jwk) for key in await self._keys.published()]}

    async def rotate(self, *, ahead_s: float = PUBLISH_AHEAD_S, actor: str = "operator") -> str:
        """Add the next signing key (it signs `ahead_s` from now; the current one verifies until
        its tokens expire); the new kid."""
        return await self._keys.rotate(ahead_s=ahead_s, actor=actor)

    async def _denied(self, session_id: str) -> bool:
        try:
            return bool(await self._redis.exists(self._deny_key(session_id)))
        except (RedisError, OSError) as exc:  # OSError: timeouts too
            raise DenyListUnavailable(f"cannot read the deny-list: {type(exc).__name__}") from exc

    def _deny_key(self, session_id: str) -> str:
        return f"{self._settings.redis_prefix}:access:deny:{session_id}"


def key_id(token: object) -> str:
    """The `kid` of a token whose header is one of ours (ES256, `at+jwt`); InvalidToken else."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("malformed token")
    try:
        header = jwt.get_unverified_header(token)
    except Exception:  # anything a hostile header makes the parser raise
        raise InvalidToken("malformed token") from None
    if header.get("alg") != ALG:
        raise InvalidToken(f"not signed with {ALG}")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in _TYPES:  # media types: any case
        raise InvalidToken("not an access token")
    if "crit" in header:
        raise InvalidToken("unsupported critical header")
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise InvalidToken("no valid key id")
    return kid


def decode(token: str, key: SigningKey, settings: Settings) -> AccessClaims:
    """The checked claims of `token`, signed with `key`; InvalidToken when anything is off."""
    try:
        payload = jwt.decode(
            token,
            key.public_key,
            algorithms=[ALG],
            audience=settings.jwt_audience,
            issuer=settings.public_url,
            leeway=LEEWAY_S,
            options={"require": list(_REQUIRED), "strict_aud": True},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("expired") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("issued in the future") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("meant for another audience") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("issued by someone else") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("bad signature") from None
    except jwt.MissingRequiredClaimError as missing:
        raise InvalidToken(f"no {missing.claim} claim") from None
    except Exception:  # a malformed part, a claim of the wrong type: never a 500
        raise InvalidToken("malformed token") from None
    return _claims(payload, settings)


def _claims(payload: dict[str, Any], settings: Settings) -> AccessClaims:
    exp, iat = payload["exp"], payload["iat"]
    # pyjwt accepts numeric strings ("1700000000") and floats; ours are integers.
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in (exp, iat)):
        raise InvalidToken("malformed times")
    if exp > time.time() + settings.access_token_ttl_s + LEEWAY_S:
        raise InvalidToken("lives longer than this server issues")
    tenant_id, user_id, session_id = payload["tid"], payload["sub"], payload["sid"]
    if not all(_is_uuid(value) for value in (tenant_id, user_id, session_id)):
        raise InvalidToken("malformed identifiers")
    role, token_id, mfa = payload["role"], payload["jti"], payload["mfa"]
    if role not in ROLES or not isinstance(token_id, str) or not isinstance(mfa, bool):
        raise InvalidToken("malformed claims")
    queues = payload.get("queues")
    if queues is not None and not (
        isinstance(queues, list) and all(isinstance(queue, str) for queue in queues)
    ):
        raise InvalidToken("malformed queues claim")
    return AccessClaims(
        tenant_id=tenant_id,
        user_id=user_id,
        role=role,
        session_id=session_id,
        token_id=token_id,
        expires_at=float(exp),
        mfa=mfa,
        queues=None if queues is None else tuple(queues),
    )


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
