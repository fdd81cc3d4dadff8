"""Sign-in sessions: refresh tokens (7 days, stored hashed, rotated on every use); a refresh
token used twice ends its whole family (the session), since one of the two users stole it.

INTERFACE STUB (issue 20): the bodies are being written; the signatures are the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from core.settings import Settings


class RefreshRefused(Exception):
    """Unknown, expired or ended refresh token (the reason is safe to show)."""


class RefreshReused(RefreshRefused):
    """A refresh token was presented a second time: its session is ended (and must be denied)."""

    def __init__(self, session_id: str) -> None:
        super().__init__("this refresh token was used already; its session is ended")
        self.session_id = session_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    tenant_id: str
    user_id: str
    session_id: str
    mfa: bool
    # The new refresh token (shown once) and when it expires (epoch seconds).
    refresh_token: str
    expires_at: float


class Sessions:
    def __init__(self, pool: AsyncConnectionPool[Any], settings: Settings) -> None:
        self._pool, self._settings = pool, settings

    async def start(self, *, tenant_id: str, user_id: str, mfa: bool) -> Grant:
        raise NotImplementedError

    async def rotate(self, refresh_token: str) -> Grant:
        """The next refresh token of the session; RefreshReused or RefreshRefused otherwise."""
        raise NotImplementedError

    async def end(self, session_id: str) -> None:
        raise NotImplementedError

    async def end_all(self, tenant_id: str, user_id: str) -> list[str]:
        """End every session of a person (deactivated, role changed); their ids."""
        raise NotImplementedError
