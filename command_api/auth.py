"""Bearer API keys: each belongs to one tenant and has one role."""

from __future__ import annotations

import time
from dataclasses import dataclass

from command_api.problems import ProblemError
from eventstore.tenants import ApiKey, Role, TenantDirectory, hash_secret

# What each role may do on the command side. Reading is the query side's business.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "queues:manage": frozenset({"admin"}),
    "queues:operate": frozenset({"admin", "staff"}),
    "tickets:enqueue": frozenset({"admin", "staff", "kiosk"}),
    "tickets:operate": frozenset({"admin", "staff"}),
    "keys:manage": frozenset({"admin"}),
    "read": frozenset({"admin", "staff", "kiosk", "viewer"}),
}

_CACHE_TTL_S = 10.0
_CACHE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    key: ApiKey

    @property
    def tenant_id(self) -> str:
        return self.key.tenant_id

    @property
    def actor(self) -> str:
        return f"key:{self.key.key_id}"

    def require(self, permission: str) -> None:
        if self.key.role not in PERMISSIONS[permission]:
            raise ProblemError(
                "forbidden", f"a {self.key.role} key may not do this ({permission})"
            )

    def may(self, permission: str) -> bool:
        return self.key.role in PERMISSIONS[permission]


class Authenticator:
    """Looks keys up by hash, remembering answers briefly (a revoked key dies within seconds)."""

    def __init__(self, directory: TenantDirectory) -> None:
        self._directory = directory
        self._cache: dict[bytes, tuple[float, ApiKey | None]] = {}

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise _unauthorized("send an API key as 'Authorization: Bearer <key>'")
        scheme, _, secret = authorization.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret or len(secret) > 200:
            raise _unauthorized("send an API key as 'Authorization: Bearer <key>'")
        now = time.monotonic()
        digest = hash_secret(secret)
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            key = cached[1]
        else:
            key = await self._directory.authenticate(secret)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[digest] = (now + _CACHE_TTL_S, key)
        if key is None:
            raise _unauthorized("this API key is not valid (unknown or revoked)")
        return Principal(key)

    def forget(self) -> None:
        self._cache.clear()


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError("unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})
