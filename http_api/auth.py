"""Bearer API keys: each belongs to one tenant and has one role."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from access.directory import ApiKey, TenantDirectory, hash_secret
from access.permissions import Role
from http_api.problems import ProblemError

# What each role may do.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "queues:manage": frozenset({"admin"}),
    "queues:operate": frozenset({"admin", "staff"}),
    "tickets:enqueue": frozenset({"admin", "staff", "kiosk"}),
    "tickets:operate": frozenset({"admin", "staff"}),
    "keys:manage": frozenset({"admin"}),
    "read": frozenset({"admin", "staff", "kiosk", "viewer"}),
}

# A revoked key stops working on every replica within this many seconds (on the replica that
# revoked it, at once).
_CACHE_TTL_S = 10.0
_CACHE_MAX = 10_000
_MAX_SECRET = 200
_UNSEEN: Any = object()


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
            raise ProblemError("forbidden", f"a {self.key.role} key may not do this ({permission})")

    def may(self, permission: str) -> bool:
        return self.key.role in PERMISSIONS[permission]


class Authenticator:
    """Looks keys up by hash, remembering answers (unknown keys too) briefly."""

    def __init__(
        self, directory: TenantDirectory, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self._directory = directory
        self._cache: TTLCache[bytes, ApiKey | None] = TTLCache(_CACHE_MAX, _CACHE_TTL_S, timer)

    async def authenticate(self, secret: str | None) -> Principal:
        """The principal of a bearer secret (the part after `Bearer `)."""
        secret = (secret or "").strip()
        if not secret or len(secret) > _MAX_SECRET:
            raise unauthorized("send an API key as 'Authorization: Bearer <key>'")
        digest = hash_secret(secret)
        # One lookup: `in` then `[]` races the TTL (the entry can expire in between: a KeyError).
        key = self._cache.get(digest, _UNSEEN)
        if key is _UNSEEN:
            key = self._cache[digest] = await self._directory.authenticate(secret)
        if key is None:
            raise unauthorized("this API key is not valid (unknown or revoked)")
        return Principal(key)

    def forget(self) -> None:
        self._cache.clear()


def unauthorized(detail: str) -> ProblemError:
    return ProblemError("unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})
