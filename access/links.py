"""Single-use, expiring links emailed to a person: an invitation (7 days), an email
verification (2 days), a password reset (1 hour).

The token is 256 random bits, shown once (in the email's link, after `#` so it never reaches a
server log or a Referer header); only its SHA-256 is kept. Using a link is one conditional
UPDATE, so two uses at once cannot both succeed. A new link of a purpose voids the person's
older ones of that purpose (the latest reset email is the only one that works).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from eventstore.pool import pooled

Purpose = Literal["invite", "verify-email", "reset-password"]
LIFETIMES: dict[Purpose, timedelta] = {
    "invite": timedelta(days=7),
    "verify-email": timedelta(days=2),
    "reset-password": timedelta(hours=1),
}
# Where each link leads (pages of the product, under the public URL).
PAGES: dict[Purpose, str] = {
    "invite": "/account/set-password",
    "verify-email": "/account/verify",
    "reset-password": "/account/set-password",
}
MAX_TOKEN = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Issued:
    link_id: str
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    link_id: str
    tenant_id: str
    user_id: str
    purpose: Purpose


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def url(public_url: str, purpose: Purpose, token: str) -> str:
    """The link as emailed: the token in the fragment, never in the query."""
    return f"{public_url.rstrip('/')}{PAGES[purpose]}#token={token}"


async def issue(
    conn: AsyncConnection[Any], tenant_id: str, user_id: str, purpose: Purpose, now: datetime
) -> Issued:
    """A new link (inside the caller's transaction), voiding the person's open ones of this
    purpose."""
    await conn.execute(
        """UPDATE user_links SET used_at = %s
            WHERE user_id = %s AND purpose = %s AND used_at IS NULL""",
        (now, user_id, purpose),
    )
    token = secrets.token_urlsafe(32)
    link_id = str(uuid.uuid4())
    expires_at = now + LIFETIMES[purpose]
    await conn.execute(
        """INSERT INTO user_links
               (link_id, token_hash, tenant_id, user_id, purpose, created_at, expires_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        (link_id, token_hash(token), tenant_id, user_id, purpose, now, expires_at),
    )
    return Issued(link_id=link_id, token=token, expires_at=expires_at)


_RETURNING = "link_id::text, tenant_id::text, user_id::text, purpose"


def _link(row: tuple[Any, ...]) -> Link:
    return Link(link_id=row[0], tenant_id=row[1], user_id=row[2], purpose=row[3])


async def peek(
    pool: AsyncConnectionPool[Any], token: str, purposes: tuple[Purpose, ...], now: datetime
) -> Link | None:
    """The link if it is still usable (unused, unexpired, of one of these purposes), without
    using it: to check what it is for before doing anything (a password's policy)."""
    if not token or len(token) > MAX_TOKEN:
        return None
    async with pooled(pool) as conn:
        row = await (
            await conn.execute(
                f"""SELECT {_RETURNING} FROM user_links
                     WHERE token_hash = %s AND purpose = ANY(%s)
                       AND used_at IS NULL AND expires_at > %s""",
                (token_hash(token), list(purposes), now),
            )
        ).fetchone()
    return None if row is None else _link(row)


async def use(
    conn: AsyncConnection[Any], token: str, purposes: tuple[Purpose, ...], now: datetime
) -> Link | None:
    """Use the link (inside the caller's transaction): None when it is unknown, expired, used
    already (also by a concurrent request) or of another purpose."""
    if not token or len(token) > MAX_TOKEN:
        return None
    row = await (
        await conn.execute(
            f"""UPDATE user_links SET used_at = %s
                 WHERE token_hash = %s AND purpose = ANY(%s)
                   AND used_at IS NULL AND expires_at > %s
                RETURNING {_RETURNING}""",
            (now, token_hash(token), list(purposes), now),
        )
    ).fetchone()
    return None if row is None else _link(row)


async def void(conn: AsyncConnection[Any], tenant_id: str, user_id: str, now: datetime) -> None:
    """Every open link of the person stops working (deactivated)."""
    await conn.execute(
        """UPDATE user_links SET used_at = %s
            WHERE tenant_id = %s AND user_id = %s AND used_at IS NULL""",
        (now, tenant_id, user_id),
    )
