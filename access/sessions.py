"""Sign-in sessions: refresh tokens (7 days, stored hashed, rotated on every use); a refresh
token used twice ends its whole family (the session), since one of the two users stole it.

A rotation reads and marks its token under a row lock in one transaction, so two requests that
present the same token at once cannot both get a next one: the second finds it used, which is
what a thief racing its victim looks like too, and ends the session.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from access import audit_store
from core.errors import Unavailable
from core.ids import is_uuid
from core.settings import Settings
from eventstore.pool import pooled

log = logging.getLogger(__name__)

PREFIX = "vqr_"
# `vqr_` and 43 base64url characters; anything much longer is not one of ours.
MAX_TOKEN_CHARS = 200
# Rows of expired refresh tokens (and of sessions left with none) are deleted this long after
# they stop mattering, at most this often per process, a bounded batch at a time.
PRUNE_AFTER = timedelta(days=1)
PRUNE_EVERY_S = 3600.0
PRUNE_BATCH = 5000


class PersonGone(Exception):
    """The person was removed or deactivated while signing in: no session opens."""


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
    refresh_token: str = field(repr=False)
    expires_at: float


def token_hash(refresh_token: str) -> bytes:
    return hashlib.sha256(refresh_token.encode("utf-8")).digest()


class Sessions:
    def __init__(self, pool: AsyncConnectionPool[Any], settings: Settings) -> None:
        self._pool, self._settings = pool, settings
        self._pruned_at: float | None = None

    async def start(self, *, tenant_id: str, user_id: str, mfa: bool) -> Grant:
        """A new session of an active person; PersonGone when they are not (any more): a
        sign-in whose password check raced their removal or deactivation opens nothing. The
        person's row is share-locked until the session is written, so a removal waits for it
        (and then ends it) or comes first (and this finds no one)."""
        session_id = str(uuid.uuid4())
        async with pooled(self._pool) as conn, conn.transaction():
            cur = await conn.execute(
                """INSERT INTO sessions (session_id, tenant_id, user_id, mfa)
                   SELECT %s, tenant_id, user_id, %s FROM users
                    WHERE tenant_id = %s AND user_id = %s AND active
                   FOR SHARE""",
                (session_id, mfa, tenant_id, user_id),
            )
            if cur.rowcount != 1:
                raise PersonGone(f"no active person {user_id} in this organisation")
            token, expires_at = await self._issue(conn, session_id)
        await self._maybe_prune()
        return Grant(
            tenant_id=tenant_id,
            user_id=user_id,
            session_id=session_id,
            mfa=mfa,
            refresh_token=token,
            expires_at=expires_at,
        )

    async def rotate(self, refresh_token: str) -> Grant:
        """The next refresh token of the session; RefreshReused or RefreshRefused otherwise."""
        if (
            not isinstance(refresh_token, str)
            or not refresh_token.startswith(PREFIX)
            or len(refresh_token) > MAX_TOKEN_CHARS
        ):
            raise RefreshRefused("not a refresh token")
        digest = token_hash(refresh_token)
        async with pooled(self._pool) as conn, conn.transaction():
            # FOR UPDATE locks the token and its session: rotations of one family take turns.
            cur = await conn.execute(
                """SELECT r.session_id::text, s.tenant_id::text, s.user_id::text, s.mfa,
                          r.used_at IS NOT NULL, r.expires_at <= now(), s.ended_at IS NOT NULL
                   FROM refresh_tokens r JOIN sessions s USING (session_id)
                   WHERE r.token_hash = %s
                   FOR UPDATE""",
                (digest,),
            )
            row = await cur.fetchone()
            if row is None:
                raise RefreshRefused("unknown refresh token")
            session_id, tenant_id, user_id, mfa, used, expired, ended = row
            if ended:
                raise RefreshRefused("this session has ended; sign in again")
            if expired and not used:
                raise RefreshRefused("this refresh token has expired; sign in again")
            if used:
                await _end_reused(conn, tenant_id, user_id, session_id)
                token = None
            else:
                await conn.execute(
                    "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = %s", (digest,)
                )
                token, expires_at = await self._issue(conn, session_id)
        if token is None:  # raised after the commit: the session's end must stick
            raise RefreshReused(session_id)
        return Grant(
            tenant_id=tenant_id,
            user_id=user_id,
            session_id=session_id,
            mfa=mfa,
            refresh_token=token,
            expires_at=expires_at,
        )

    async def end(self, session_id: str, *, reason: str = "signed out") -> None:
        """End a session (its refresh tokens are refused from now on); no-op when it is unknown
        or ended already."""
        if not is_uuid(session_id):
            return
        async with pooled(self._pool) as conn:
            await _end(conn, session_id, reason)

    async def end_all(
        self, tenant_id: str, user_id: str, *, reason: str = "ended by an administrator"
    ) -> list[str]:
        """End every session of a person (deactivated, role changed); their ids."""
        if not (is_uuid(tenant_id) and is_uuid(user_id)):
            return []
        async with pooled(self._pool) as conn:
            cur = await conn.execute(
                """UPDATE sessions SET ended_at = now(), ended_reason = %s
                   WHERE tenant_id = %s AND user_id = %s AND ended_at IS NULL
                   RETURNING session_id::text""",
                (reason, tenant_id, user_id),
            )
            return sorted(row[0] for row in await cur.fetchall())

    async def prune(self) -> int:
        """Delete refresh tokens that expired over a day ago, and the sessions left with none
        (ended or run out); how many rows went."""
        async with pooled(self._pool) as conn, conn.transaction():
            tokens = await conn.execute(
                """DELETE FROM refresh_tokens WHERE token_hash IN (
                       SELECT token_hash FROM refresh_tokens WHERE expires_at < now() - %s
                       LIMIT %s)""",
                (PRUNE_AFTER, PRUNE_BATCH),
            )
            sessions = await conn.execute(
                """DELETE FROM sessions s WHERE s.session_id IN (
                       SELECT session_id FROM sessions
                       WHERE created_at < now() - %s - %s
                         AND NOT EXISTS (SELECT 1 FROM refresh_tokens r
                                         WHERE r.session_id = sessions.session_id)
                       LIMIT %s)""",
                (
                    PRUNE_AFTER,
                    timedelta(seconds=self._settings.refresh_token_ttl_s),
                    PRUNE_BATCH,
                ),
            )
            return tokens.rowcount + sessions.rowcount

    async def _issue(self, conn: AsyncConnection[Any], session_id: str) -> tuple[str, float]:
        token = PREFIX + secrets.token_urlsafe(32)
        cur = await conn.execute(
            """INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at)
               VALUES (%s, %s, now(), now() + %s)
               RETURNING extract(epoch FROM expires_at)::float8""",
            (token_hash(token), session_id, timedelta(seconds=self._settings.refresh_token_ttl_s)),
        )
        row = await cur.fetchone()
        assert row is not None  # an insert returns its row
        return token, float(row[0])

    async def _maybe_prune(self) -> None:
        now = time.monotonic()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = now
        try:
            await self.prune()
        except Unavailable as exc:  # housekeeping: the sign-in itself went through
            log.warning("could not prune sessions: %s", exc)


async def _end_reused(
    conn: AsyncConnection[Any], tenant_id: str, user_id: str, session_id: str
) -> None:
    await _end(conn, session_id, "reuse")
    await audit_store.append(
        conn,
        tenant_id=tenant_id,
        at=datetime.now(UTC),
        actor=f"user:{user_id}",
        action="session.refresh_reused",
        subject=session_id,
        detail={"ended": True},
    )


async def _end(conn: AsyncConnection[Any], session_id: str, reason: str) -> None:
    await conn.execute(
        """UPDATE sessions SET ended_at = now(), ended_reason = %s
           WHERE session_id = %s AND ended_at IS NULL""",
        (reason, session_id),
    )
