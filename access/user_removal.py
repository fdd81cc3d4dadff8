"""Removing a person for good (`DELETE /v1/users/{id}`): their erasure, not a deactivation
(that is `PATCH /v1/users/{id}` with `active: false`, which keeps them and can be undone).

The person's row goes, and with it (ON DELETE CASCADE) their links and their second factor
with its recovery codes. Their sessions carry their id without a foreign key, so they are
deleted here (with their refresh tokens) after the access tokens of the open ones are denied.
What stays is what was never theirs alone: the audit trail (it names them by id only, and an
entry is never edited: the chain would break), and the keys they made for the organisation.

The organisation's admins are locked first, as `update_user` does, so the last active admin is
never removed, and two admins removing each other at once take turns: the second is refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from access.organisations import record
from access.users import Conn, LastAdmin, lock_admins
from core.ids import is_uuid

# Refuses every access token of a session from now on (AccessTokens.deny_session).
DenySession = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Removed:
    user_id: str
    role: str
    sessions_ended: int


async def remove_user(
    conn: Conn, deny: DenySession, tenant_id: str, user_id: str, *, actor: str
) -> Removed | None:
    """Remove the person, end their sessions and audit it as `user.removed`, inside the
    caller's transaction (None: no such person in this organisation; LastAdmin: they are its
    last active admin). The open sessions' tokens are denied before anything commits: if the
    deny-list cannot be written (Unavailable), the transaction rolls back and nothing changed."""
    if not (is_uuid(tenant_id) and is_uuid(user_id)):
        return None
    admins = await lock_admins(conn, tenant_id)
    row = await (
        await conn.execute(
            "SELECT role, active FROM users WHERE tenant_id = %s AND user_id = %s FOR UPDATE",
            (tenant_id, user_id),
        )
    ).fetchone()
    if row is None:
        return None
    role, active = str(row[0]), bool(row[1])
    if role == "admin" and active and admins <= {user_id}:
        raise LastAdmin("the organisation's last active admin cannot be removed")
    ended = await _end_sessions(conn, deny, tenant_id, user_id)
    await conn.execute(
        "DELETE FROM users WHERE tenant_id = %s AND user_id = %s", (tenant_id, user_id)
    )
    # By id and role only: the person's name and email are what is being erased.
    await record(
        conn,
        tenant_id=tenant_id,
        actor=actor,
        action="user.removed",
        subject=user_id,
        detail={"role": role, "sessions_ended": ended},
    )
    return Removed(user_id=user_id, role=role, sessions_ended=ended)


async def _end_sessions(conn: Conn, deny: DenySession, tenant_id: str, user_id: str) -> int:
    """Delete every session of the person (their refresh tokens go with them) and deny the
    access tokens of those still open; how many were open. The rows are locked by the DELETE,
    so a refresh that races it waits, then finds no session."""
    rows = await (
        await conn.execute(
            """DELETE FROM sessions WHERE tenant_id = %s AND user_id = %s
               RETURNING session_id::text, ended_at IS NULL""",
            (tenant_id, user_id),
        )
    ).fetchall()
    open_ = sorted(session_id for session_id, is_open in rows if is_open)
    for session_id in open_:
        await deny(session_id)
    return len(open_)
