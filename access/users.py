"""The people of an organisation (tenant): who they are, their role, the queues a staff member is
assigned to, their password hash, whether their email is verified, whether they may sign in.

An email is kept lower-cased and is unique within an organisation; the same address may belong
to people of different organisations (they are different accounts). Each function that changes
a person takes the caller's connection, so the change and its audit entry commit together.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from access.organisations import record
from access.permissions import PERSON_ROLES
from core.ids import is_uuid
from eventstore.pool import pooled

Pool = AsyncConnectionPool[Any]
Conn = AsyncConnection[Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    user_id: str
    tenant_id: str
    email: str
    name: str
    role: str
    # The queues a staff member is assigned to; None: every queue of the organisation.
    queues: tuple[str, ...] | None
    active: bool
    email_verified: bool
    language: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    user: User
    password_hash: str | None  # None: no password set (invited, or single sign-on only)


class EmailTaken(Exception):
    """Another person of the organisation has this email."""


class LastAdmin(Exception):
    """The change would leave the organisation without an active admin."""


class ProvisionRefused(Exception):
    """Single sign-on may not sign this person in (the reason is safe to show)."""


def normal_email(email: str) -> str:
    return email.strip().lower()


_FIELDS = tuple(
    [
        "user_id",
        "tenant_id",
        "email",
        "name",
        "role",
        "queues",
        "active",
        "email_verified",
        "language",
    ]
)
_COLUMNS = (
    "user_id::text, tenant_id::text, email, name, role, queues::text[], active, "
    "email_verified_at IS NOT NULL, language"
)


def _user(row: tuple[Any, ...]) -> User:
    values = dict(zip(_FIELDS, row[:9], strict=True))
    values["queues"] = None if values["queues"] is None else tuple(values["queues"])
    return User(**values)


async def insert_user(
    conn: Conn,
    *,
    tenant_id: str,
    email: str,
    name: str,
    role: str,
    queues: tuple[str, ...] | None = None,
    language: str = "en",
    password_hash: str | None = None,
    verified: bool = False,
    sso: tuple[str, str] | None = None,
) -> User:
    """A new person; EmailTaken when the organisation has one with this email already."""
    issuer, subject = sso if sso else (None, None)
    try:
        async with conn.transaction():
            row = await (
                await conn.execute(
                    f"""INSERT INTO users (user_id, tenant_id, email, name, role, queues, language,
                            password_hash, email_verified_at, sso_issuer, sso_subject)
                        VALUES (%s, %s, %s, %s, %s, %s::uuid[], %s, %s,
                                CASE WHEN %s THEN now() END, %s, %s)
                        RETURNING {_COLUMNS}""",
                    (
                        str(uuid.uuid4()),
                        tenant_id,
                        normal_email(email),
                        name,
                        role,
                        None if queues is None else list(queues),
                        language,
                        password_hash,
                        verified,
                        issuer,
                        subject,
                    ),
                )
            ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise EmailTaken(f"{normal_email(email)} is already a person of this organisation") from exc
    assert row is not None
    return _user(row)


async def get_user(pool: Pool, tenant_id: str, user_id: str) -> User | None:
    """The person, if they are of this organisation (another's is None, as an unknown one)."""
    found = await credentials_of(pool, tenant_id, user_id)
    return None if found is None else found.user


async def _get(conn: Conn, tenant_id: str, user_id: str) -> User | None:
    row = await (
        await conn.execute(
            f"SELECT {_COLUMNS} FROM users WHERE tenant_id = %s AND user_id = %s FOR UPDATE",
            (tenant_id, user_id),
        )
    ).fetchone()
    return None if row is None else _user(row)


async def list_users(
    pool: Pool, tenant_id: str, *, after: str | None = None, limit: int = 50
) -> list[User]:
    """The organisation's people in the order they were added, a page after `after` (a user id
    of the previous page)."""
    async with pooled(pool) as conn:
        cursor = await conn.execute(
            f"""SELECT {_COLUMNS} FROM users WHERE tenant_id = %s
                  AND (%s::uuid IS NULL OR (created_at, user_id) > (
                    SELECT created_at, user_id FROM users WHERE tenant_id = %s AND user_id = %s))
                ORDER BY created_at, user_id LIMIT %s""",
            (tenant_id, after, tenant_id, after, limit),
        )
        return [_user(row) for row in await cursor.fetchall()]


async def credentials(pool: Pool, tenant_id: str, email: str) -> tuple[bool, Credentials | None]:
    """Whether the organisation exists, and its person of this email with their password hash
    (None: nobody has this email there)."""
    if not is_uuid(tenant_id):
        return False, None
    columns = ", ".join(f"u.{c.strip()}" for c in _COLUMNS.split(","))
    async with pooled(pool) as conn:
        row = await (
            await conn.execute(
                f"""SELECT u.user_id IS NOT NULL, {columns}, u.password_hash
                      FROM tenants t LEFT JOIN users u
                        ON u.tenant_id = t.tenant_id AND u.email = %s
                     WHERE t.tenant_id = %s""",
                (normal_email(email), tenant_id),
            )
        ).fetchone()
    if row is None:
        return False, None
    if not row[0]:
        return True, None
    return True, Credentials(user=_user(row[1:]), password_hash=row[10])


async def credentials_of(pool: Pool, tenant_id: str, user_id: str) -> Credentials | None:
    if not (is_uuid(tenant_id) and is_uuid(user_id)):
        return None
    async with pooled(pool) as conn:
        row = await (
            await conn.execute(
                f"SELECT {_COLUMNS}, password_hash FROM users "
                "WHERE tenant_id = %s AND user_id = %s",
                (tenant_id, user_id),
            )
        ).fetchone()
    return None if row is None else Credentials(user=_user(row), password_hash=row[9])


async def set_password_hash(
    conn: Conn, tenant_id: str, user_id: str, password_hash: str, *, verify: bool = False
) -> None:
    """A new password hash (a rehash too); `verify`: the person proved they read their email."""
    await conn.execute(
        """UPDATE users SET password_hash = %s, updated_at = now(),
                  email_verified_at = CASE WHEN %s THEN coalesce(email_verified_at, now())
                                           ELSE email_verified_at END
            WHERE tenant_id = %s AND user_id = %s""",
        (password_hash, verify, tenant_id, user_id),
    )


async def mark_verified(conn: Conn, tenant_id: str, user_id: str) -> bool:
    """Whether the email was not verified before (and is now)."""
    cursor = await conn.execute(
        """UPDATE users SET email_verified_at = now(), updated_at = now()
            WHERE tenant_id = %s AND user_id = %s AND email_verified_at IS NULL""",
        (tenant_id, user_id),
    )
    return cursor.rowcount == 1


# What a manager may change of a person (name, role, queues, active) or a person of their own
# profile (name, language).
CHANGEABLE = frozenset({"name", "role", "queues", "active", "language"})


async def update_user(
    conn: Conn, tenant_id: str, user_id: str, changes: Mapping[str, Any]
) -> tuple[User, User] | None:
    """The person before and after `changes` (None: no such person in this organisation);
    LastAdmin when it would leave the organisation without an active admin. Inside the caller's
    transaction: the organisation's admins are locked first, so two admins demoting each other
    at once take turns and the second is refused."""
    unknown = set(changes) - CHANGEABLE
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}")
    if not (is_uuid(tenant_id) and is_uuid(user_id)):
        return None
    admins = await lock_admins(conn, tenant_id)
    before = await _get(conn, tenant_id, user_id)
    if before is None:
        return None
    role, active = changes.get("role", before.role), changes.get("active", before.active)
    if (
        before.role == "admin"
        and before.active
        and not (role == "admin" and active)
        and (admins <= {user_id})
    ):
        raise LastAdmin("the organisation's last active admin stays an active admin")
    if not changes:
        return before, before
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(
            sql.Identifier(name),
            sql.SQL("%s::uuid[]") if name == "queues" else sql.Placeholder(),
        )
        for name in changes
    )
    values = [list(v) if name == "queues" and v is not None else v for name, v in changes.items()]
    row = await (
        await conn.execute(
            sql.SQL(
                "UPDATE users SET {}, updated_at = now() WHERE tenant_id = %s AND user_id = %s "
                "RETURNING " + _COLUMNS
            ).format(assignments),
            (*values, tenant_id, user_id),
        )
    ).fetchone()
    assert row is not None
    return before, _user(row)


async def lock_admins(conn: Conn, tenant_id: str) -> set[str]:
    rows = await (
        await conn.execute(
            """SELECT user_id::text FROM users WHERE tenant_id = %s AND role = 'admin' AND active
                ORDER BY user_id FOR UPDATE""",
            (tenant_id,),
        )
    ).fetchall()
    return {row[0] for row in rows}


async def provision_sso(
    pool: Pool, *, tenant_id: str, issuer: str, subject: str, email: str, name: str, role: str
) -> User:
    """The person the organisation's OpenID provider signed in: the one linked to this issuer
    and subject (their name and role updated to the provider's), else the person of this email
    (linked now, only if their email is verified: an unverified address proves nothing), else a
    new person, made just in time with a verified email and no password. ProvisionRefused when
    the person may not sign in (deactivated, an unverified person holds the email, an unknown
    role). The last active admin is never demoted by a mapping (the organisation would be left
    without anyone to fix it); the change is refused silently and the person stays admin."""
    if role not in PERSON_ROLES:
        raise ProvisionRefused(f"the mapped role {role!r} is not a role people hold")
    name = (name or email).strip()[:200] or "?"
    for _ in range(3):  # two first sign-ins at once: the second finds the first's row
        try:
            async with pooled(pool) as conn, conn.transaction():
                return await _provision(conn, tenant_id, issuer, subject, email, name, role)
        except (psycopg.errors.UniqueViolation, EmailTaken):
            continue
    raise ProvisionRefused("the person could not be provisioned (conflicting sign-ins)")


async def _provision(
    conn: Conn, tenant_id: str, issuer: str, subject: str, email: str, name: str, role: str
) -> User:
    actor = f"sso:{issuer}"[:300]
    row = await (
        await conn.execute(
            f"""SELECT {_COLUMNS} FROM users
                 WHERE tenant_id = %s AND sso_issuer = %s AND sso_subject = %s FOR UPDATE""",
            (tenant_id, issuer, subject),
        )
    ).fetchone()
    if row is None:
        row = await (
            await conn.execute(
                f"""SELECT {_COLUMNS}, sso_issuer FROM users
                     WHERE tenant_id = %s AND email = %s FOR UPDATE""",
                (tenant_id, normal_email(email)),
            )
        ).fetchone()
        if row is None:
            made = await insert_user(
                conn,
                tenant_id=tenant_id,
                email=email,
                name=name,
                role=role,
                verified=True,
                sso=(issuer, subject),
            )
            await _audit(conn, made, actor, "user.provisioned", {"role": role, "issuer": issuer})
            return made
        if not row[7]:
            raise ProvisionRefused("a person with this email exists whose email is not verified")
        if row[9] is not None:
            raise ProvisionRefused("this person is linked to another single sign-on identity")
        await conn.execute(
            "UPDATE users SET sso_issuer = %s, sso_subject = %s WHERE user_id = %s",
            (issuer, subject, row[0]),
        )
    person = _user(row)
    if not person.active:
        raise ProvisionRefused("this person is deactivated")
    return await _refresh_from_provider(conn, person, actor, name, role)


async def _refresh_from_provider(
    conn: Conn, person: User, actor: str, name: str, role: str
) -> User:
    changes: dict[str, Any] = {}
    if name != person.name:
        changes["name"] = name
    if role != person.role:
        changes["role"] = role
    if not changes:
        return person
    try:
        async with conn.transaction():
            found = await update_user(conn, person.tenant_id, person.user_id, changes)
    except LastAdmin:
        changes.pop("role")
        if not changes:
            return person
        found = await update_user(conn, person.tenant_id, person.user_id, changes)
    assert found is not None
    after = found[1]
    if after.role != person.role:
        detail = {"from": person.role, "to": after.role}
        await _audit(conn, after, actor, "user.role_changed", detail)
    return after


async def _audit(
    conn: Conn, person: User, actor: str, action: str, detail: dict[str, Any] | None = None
) -> None:
    await record(
        conn,
        tenant_id=person.tenant_id,
        actor=actor,
        action=action,
        subject=person.user_id,
        detail=detail,
    )
