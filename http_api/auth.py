"""Who is calling: an API key (`vq_...`, one tenant, one role, maybe scopes) or a person's access
token (a JWT from `POST /v1/auth/login`), and what they may do (access/permissions.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from cachetools import TTLCache

from access.directory import ApiKey, TenantDirectory, hash_secret
from access.permissions import PUBLIC, SELF, holds
from access.tokens import AccessTokens, InvalidToken
from http_api.problems import ProblemError

# A revoked key stops working on every replica within this many seconds (on the replica that
# revoked it, at once).
_CACHE_TTL_S = 10.0
_VOUCH_TTL_S = 600.0
_CACHE_MAX = 10_000
# An access token (ES256 JWT) is about 600 characters; a key about 46.
_MAX_SECRET = 4096
_UNSEEN: Any = object()


def permission(name: str, *, bearer: str | None = None) -> dict[str, Any]:
    """A route's declaration of the permission it needs (its OpenAPI operation's `x-permission`;
    the `PrincipalDep` dependency enforces it). `bearer`: for ticket-token routes, what a caller
    with credentials instead of the ticket's token must hold."""
    declared: dict[str, Any] = {"x-permission": name}
    if bearer is not None:
        declared["x-permission-bearer"] = bearer
    return declared


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """An authenticated caller of one tenant."""

    tenant_id: str
    role: str
    actor: str  # "key:<id>" or "user:<id>", what events and the audit trail record
    key_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    # An API key's scopes (None: all of its role's permissions).
    scopes: frozenset[str] | None = None
    # The queues a staff member is assigned to (None: every queue).
    queues: frozenset[str] | None = None
    # Whether the person's session was opened with a second factor (or single sign-on).
    mfa: bool = False
    # The organisation asks this role for a second factor and the session has none: only the
    # person's own routes (to enrol one) are open. Set by `under` (the organisation's policy).
    mfa_pending: bool = False
    # When the credential stops being valid (epoch seconds; None: not before it is revoked).
    expires_at: float | None = None

    @property
    def identity(self) -> str:
        """Whom rate limits count: the key or the person."""
        return self.actor

    def under(self, mfa_roles: frozenset[str]) -> Principal:
        """The caller as its organisation's policy sees it: a person whose role must use a
        second factor, signed in without one, is pending until they enrol one."""
        pending = self.user_id is not None and not self.mfa and self.role in mfa_roles
        return replace(self, mfa_pending=True) if pending else self

    def may(self, permission: str) -> bool:
        if permission == PUBLIC:
            return True
        if permission == SELF:
            return self.user_id is not None
        if self.mfa_pending or not holds(self.role, permission):
            return False
        return self.scopes is None or permission in self.scopes

    def require(self, permission: str) -> None:
        if self.may(permission):
            return
        if permission == SELF:
            raise ProblemError("forbidden", "only a person's own session may do this (not a key)")
        if self.mfa_pending and holds(self.role, permission):
            raise ProblemError(
                "mfa-enrolment-required",
                f"your organisation asks a {self.role} for a second factor: enrol one at "
                "/v1/me/mfa/totp, then sign in again",
            )
        if self.scopes is not None and holds(self.role, permission):
            raise ProblemError("forbidden", f"this key's scopes do not include {permission}")
        raise ProblemError("forbidden", f"a {self.role} may not do this ({permission})")

    def require_queue(self, queue_id: str) -> None:
        """Staff with assignments act on their queues only."""
        if self.queues is not None and queue_id not in self.queues:
            raise ProblemError("forbidden", f"you are not assigned to queue {queue_id}")


def key_principal(key: ApiKey) -> Principal:
    return Principal(
        tenant_id=key.tenant_id,
        role=key.role,
        actor=f"key:{key.key_id}",
        key_id=key.key_id,
        scopes=key.scopes,
        expires_at=None if key.expires_at is None else key.expires_at.timestamp(),
    )


class Authenticator:
    """API keys are looked up by hash, answers (unknown keys too) remembered briefly; access
    tokens are verified by signature and checked against the sign-out deny-list."""

    def __init__(
        self,
        directory: TenantDirectory,
        tokens: AccessTokens | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        """Without `tokens`, API keys only."""
        self._directory = directory
        self._tokens = tokens
        self._cache: TTLCache[bytes, ApiKey | None] = TTLCache(_CACHE_MAX, _CACHE_TTL_S, timer)
        # Keys found valid lately: an address over its limit (someone there guessing keys) may
        # still send these (they are authenticated as any other; http_api/ratelimit.py).
        self._vouched: TTLCache[bytes, bool] = TTLCache(_CACHE_MAX, _VOUCH_TTL_S, timer)

    async def authenticate(self, secret: str | None) -> Principal:
        """The principal of a bearer secret (the part after `Bearer `)."""
        secret = (secret or "").strip()
        if not secret or len(secret) > _MAX_SECRET:
            raise unauthorized("send an API key or an access token as 'Authorization: Bearer ...'")
        if secret.count(".") != 2 or self._tokens is None:
            return key_principal(await self._key(secret))
        try:
            claims = await self._tokens.verify(secret)
        except InvalidToken as refused:
            raise unauthorized(f"this access token is not valid ({refused})") from None
        return Principal(
            tenant_id=claims.tenant_id,
            role=claims.role,
            actor=f"user:{claims.user_id}",
            user_id=claims.user_id,
            session_id=claims.session_id,
            queues=None if claims.queues is None else frozenset(claims.queues),
            mfa=claims.mfa,
            expires_at=claims.expires_at,
        )

    async def _key(self, secret: str) -> ApiKey:
        digest = hash_secret(secret)
        # One lookup: `in` then `[]` races the TTL (the entry can expire in between: a KeyError).
        cached = self._cache.get(digest, _UNSEEN)
        key: ApiKey | None = cached
        if cached is _UNSEEN:
            key = self._cache[digest] = await self._directory.authenticate(secret)
        if key is None:
            raise unauthorized("this API key is not valid (unknown, revoked or expired)")
        # Remembered answers outlive an expiry by up to the cache's TTL: check it here too.
        if key.expires_at is not None and key.expires_at <= datetime.now(UTC):
            raise unauthorized("this API key has expired")
        self._directory.record_use(key.key_id)
        self._vouched[digest] = True
        return key

    def vouches_for(self, secret: str | None) -> bool:
        """Whether `secret` is an access token (checked by its signature: no lookup to spend) or
        an API key this process found valid lately."""
        secret = (secret or "").strip()
        if not secret or len(secret) > _MAX_SECRET:
            return False
        if secret.count(".") == 2 and self._tokens is not None:
            return True
        return hash_secret(secret) in self._vouched

    def forget(self) -> None:
        self._cache.clear()
        self._vouched.clear()


def declared_permission(scope: Mapping[str, Any], key: str = "x-permission") -> str | None:
    """The permission the matched route declares (None: it declares none)."""
    extra = getattr(scope.get("route"), "openapi_extra", None) or {}
    found = extra.get(key)
    return found if isinstance(found, str) else None


def unauthorized(detail: str) -> ProblemError:
    return ProblemError("unauthorized", detail)
