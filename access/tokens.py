"""Access tokens: short-lived JWTs signed with the deployment's current key (ES256, `kid` from the
JWKS the API publishes), and the deny-list that makes a sign-out take effect at once.

INTERFACE STUB (issue 20): the bodies are being written; the signatures are the contract the HTTP
layer (http_api/auth.py) relies on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from core.settings import Settings


class InvalidToken(Exception):
    """The token is not one of ours, or no longer valid (the reason is safe to show)."""


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


class AccessTokens:
    def __init__(
        self, pool: AsyncConnectionPool[Any], redis: aioredis.Redis, settings: Settings
    ) -> None:
        self._pool, self._redis, self._settings = pool, redis, settings

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
        raise NotImplementedError

    async def verify(self, token: str) -> AccessClaims:
        """The claims of a valid token; InvalidToken otherwise (bad signature, `alg` other than
        ES256, unknown `kid`, wrong issuer or audience, expired, or its session ended)."""
        raise NotImplementedError

    async def deny_session(self, session_id: str) -> None:
        """Every access token of this session is refused from now on (until they expire)."""
        raise NotImplementedError

    async def jwks(self) -> dict[str, Any]:
        """The public keys tokens may be verified with (current, next and recently retired)."""
        raise NotImplementedError
