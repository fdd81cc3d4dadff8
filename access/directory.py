"""Tenants and their API keys, kept beside the event store in the same database.

A key is shown once, when it is made or rotated; the table keeps only its SHA-256, so a copy of
the database gives nobody a usable key. A key has one role, maybe scopes (some of its role's
permissions only) and an expiry. Rotating a key gives it a new secret while the one before keeps
working for an overlap, so clients switch without a gap. Every change to a key goes into the
audit trail in the same transaction. Uses are counted in memory and written in batches
(access/key_usage.py).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from access import audit_store
from access.key_usage import KeyUsage, utcnow
from access.permissions import Role, permissions_of
from eventstore.postgres import PostgresEventStore

KEY_PREFIX = "vq_"
MAX_OVERLAP = timedelta(days=7)

# The previous secret's end is shown only while it still works.
_COLUMNS = (
    "key_id::text, tenant_id::text, name, role, scopes, expires_at, created_at, created_by, "
    "last_used_at, use_count, rotated_at, "
    "CASE WHEN previous_until > now() THEN previous_until END"
)


class KeyRefused(Exception):
    """A key the rules refuse to make or rotate (the reason is safe to show)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    key_id: str
    tenant_id: str
    name: str
    role: Role
    # The permissions the key is limited to; None: all of its role's.
    scopes: frozenset[str] | None = None
    # When this secret stops working: the key's expiry or, for the secret before a rotation,
    # the end of its overlap (whichever is first); None: never.
    expires_at: datetime | None = None

    @property
    def permissions(self) -> frozenset[str]:
        """What the key may do: its role's permissions, narrowed by its scopes."""
        held = permissions_of(self.role)
        return held if self.scopes is None else held & self.scopes


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRecord:
    """A key as its tenant's admins see it (never its secret)."""

    key: ApiKey
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None
    use_count: int
    rotated_at: datetime | None
    # During a rotation's overlap: when the secret before stops working.
    previous_until: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedKey:
    record: KeyRecord
    secret: str = field(repr=False)  # shown once, never logged

    @property
    def key(self) -> ApiKey:
        return self.record.key


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def checked_scopes(role: Role, scopes: Iterable[str] | None) -> frozenset[str] | None:
    """The scopes of a key of `role`: each must be a permission the role holds."""
    if scopes is None:
        return None
    wanted = frozenset(scopes)
    if not wanted:
        raise KeyRefused("scopes, when given, name at least one permission")
    beyond = sorted(wanted - permissions_of(role))
    if beyond:
        raise KeyRefused(f"a {role} key cannot hold {', '.join(beyond)}")
    return wanted


def _record(row: tuple[Any, ...]) -> KeyRecord:
    (key_id, tenant_id, name, role, scopes, expires_at, created_at, created_by) = row[:8]
    last_used_at, use_count, rotated_at, previous_until = row[8:]
    key = ApiKey(
        key_id=key_id,
        tenant_id=tenant_id,
        name=name,
        role=role,
        scopes=None if scopes is None else frozenset(scopes),
        expires_at=expires_at,
    )
    return KeyRecord(
        key=key,
        created_at=created_at,
        created_by=created_by,
        last_used_at=last_used_at,
        use_count=use_count,
        rotated_at=rotated_at,
        # The previous secret works no longer than the key itself.
        previous_until=(
            previous_until
            if previous_until is None or expires_at is None
            else min(previous_until, expires_at)
        ),
    )


def _key_detail(key: ApiKey) -> dict[str, Any]:
    return {
        "name": key.name,
        "role": key.role,
        "scopes": None if key.scopes is None else sorted(key.scopes),
        "expires_at": None if key.expires_at is None else key.expires_at.isoformat(),
    }


class TenantDirectory:
    def __init__(self, store: PostgresEventStore, clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._clock = clock
        self._usage = KeyUsage(clock)

    # -- tenants ---------------------------------------------------------------------------------

    async def create_tenant(self, name: str, *, actor: str = "system") -> tuple[str, IssuedKey]:
        """A tenant and its first admin key."""
        tenant_id = str(uuid.uuid4())
        async with self._store.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO tenants (tenant_id, name) VALUES (%s, %s)", (tenant_id, name)
            )
            await audit_store.append(
                conn,
                tenant_id=tenant_id,
                at=self._clock(),
                actor=actor,
                action="tenant.created",
                subject=f"tenant:{tenant_id}",
                detail={"name": name},
            )
            issued = await self._insert_key(conn, tenant_id, "admin", "admin", None, None, actor)
        return tenant_id, issued

    # -- keys ------------------------------------------------------------------------------------

    async def create_key(
        self,
        tenant_id: str,
        name: str,
        role: Role,
        *,
        scopes: Iterable[str] | None = None,
        expires_at: datetime | None = None,
        actor: str = "system",
    ) -> IssuedKey:
        """A new key (KeyRefused: scopes beyond its role, or an expiry already past)."""
        narrowed = checked_scopes(role, scopes)
        if expires_at is not None and expires_at <= self._clock():
            raise KeyRefused("expires_at must be in the future")
        async with self._store.connection() as conn, conn.transaction():
            return await self._insert_key(conn, tenant_id, name, role, narrowed, expires_at, actor)

    async def _insert_key(
        self,
        conn: AsyncConnection[Any],
        tenant_id: str,
        name: str,
        role: Role,
        scopes: frozenset[str] | None,
        expires_at: datetime | None,
        actor: str,
    ) -> IssuedKey:
        key_id, secret, now = str(uuid.uuid4()), new_secret(), self._clock()
        cur = await conn.execute(
            "INSERT INTO api_keys (key_id, tenant_id, name, role, key_hash, scopes, expires_at, "
            f"created_by, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            f"RETURNING {_COLUMNS}",
            (
                key_id,
                tenant_id,
                name,
                role,
                hash_secret(secret),
                None if scopes is None else sorted(scopes),
                expires_at,
                actor,
                now,
            ),
        )
        record = _record(await _one(cur))
        await audit_store.append(
            conn,
            tenant_id=tenant_id,
            at=now,
            actor=actor,
            action="key.created",
            subject=f"key:{key_id}",
            detail=_key_detail(record.key),
        )
        return IssuedKey(record=record, secret=secret)

    async def authenticate(self, secret: str) -> ApiKey | None:
        """The key whose current secret (or previous one, during a rotation's overlap) this is;
        None when unknown, revoked or expired."""
        digest = hash_secret(secret)
        async with self._store.connection() as conn:
            cur = await conn.execute(
                "SELECT key_id::text, tenant_id::text, name, role, scopes, "
                "CASE WHEN key_hash = %(h)s THEN expires_at "
                "ELSE LEAST(expires_at, previous_until) END FROM api_keys "
                "WHERE (key_hash = %(h)s OR (previous_hash = %(h)s AND previous_until > now())) "
                "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
                {"h": digest},
            )
            row = await cur.fetchone()
        if row is None:
            return None
        key_id, tenant_id, name, role, scopes, expires_at = row
        return ApiKey(
            key_id=key_id,
            tenant_id=tenant_id,
            name=name,
            role=role,
            scopes=None if scopes is None else frozenset(scopes),
            expires_at=expires_at,
        )

    async def list_keys(self, tenant_id: str) -> list[KeyRecord]:
        """The tenant's keys that are not revoked (expired ones too), oldest first."""
        async with self._store.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM api_keys WHERE tenant_id = %s AND revoked_at IS NULL "
                "ORDER BY created_at, key_id",
                (tenant_id,),
            )
            rows = await cur.fetchall()
        return [self._with_pending(_record(row)) for row in rows]

    async def get_key(self, tenant_id: str, key_id: str) -> KeyRecord | None:
        async with self._store.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM api_keys "
                "WHERE tenant_id = %s AND key_id = %s AND revoked_at IS NULL",
                (tenant_id, key_id),
            )
            row = await cur.fetchone()
        return None if row is None else self._with_pending(_record(row))

    async def rotate_key(
        self, tenant_id: str, key_id: str, *, overlap: timedelta, actor: str = "system"
    ) -> IssuedKey | None:
        """A new secret for the key; the current one keeps working for `overlap` (0: stops at
        once), and one still in an earlier overlap stops now. None: no such key (or revoked);
        KeyRefused: the key has expired."""
        if not timedelta(0) <= overlap <= MAX_OVERLAP:
            raise KeyRefused("the overlap is 0 to 7 days")
        now = self._clock()
        async with self._store.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT expires_at FROM api_keys "
                "WHERE tenant_id = %s AND key_id = %s AND revoked_at IS NULL FOR UPDATE",
                (tenant_id, key_id),
            )
            found = await cur.fetchone()
            if found is None:
                return None
            if found[0] is not None and found[0] <= now:
                raise KeyRefused("this key has expired: make a new one")
            keeps = overlap > timedelta(0)
            secret = new_secret()
            cur = await conn.execute(
                "UPDATE api_keys SET previous_hash = CASE WHEN %s THEN key_hash END, "
                "previous_until = %s, key_hash = %s, rotated_at = %s "
                f"WHERE key_id = %s RETURNING {_COLUMNS}",
                (keeps, now + overlap if keeps else None, hash_secret(secret), now, key_id),
            )
            record = _record(await _one(cur))
            await audit_store.append(
                conn,
                tenant_id=tenant_id,
                at=now,
                actor=actor,
                action="key.rotated",
                subject=f"key:{key_id}",
                detail={
                    "overlap_s": int(overlap.total_seconds()),
                    "previous_until": _iso(record.previous_until),
                },
            )
        return IssuedKey(record=self._with_pending(record), secret=secret)

    async def revoke_key(self, tenant_id: str, key_id: str, *, actor: str = "system") -> bool:
        """Revoke the key (both its secrets, at once); False: no such key, or revoked already."""
        now = self._clock()
        async with self._store.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "UPDATE api_keys SET revoked_at = %s "
                "WHERE tenant_id = %s AND key_id = %s AND revoked_at IS NULL "
                "RETURNING name, role",
                (now, tenant_id, key_id),
            )
            row = await cur.fetchone()
            if row is None:
                return False
            await audit_store.append(
                conn,
                tenant_id=tenant_id,
                at=now,
                actor=actor,
                action="key.revoked",
                subject=f"key:{key_id}",
                detail={"name": row[0], "role": row[1]},
            )
        return True

    # -- usage -----------------------------------------------------------------------------------

    def record_use(self, key_id: str) -> None:
        """One authenticated request with the key (in memory: see `flush_usage`)."""
        self._usage.record(key_id)

    async def flush_usage(self) -> int:
        """Write this process's counted uses (one statement); the API calls it every ~10 s.
        Returns how many keys were written; PostgreSQL unavailable: 0, the counts kept."""
        return await self._usage.flush(self._store.connection)

    def _with_pending(self, record: KeyRecord) -> KeyRecord:
        """The record with the uses this process has not written yet added."""
        count, last = self._usage.pending(record.key.key_id)
        if not count or last is None:
            return record
        before = record.last_used_at
        return replace(
            record,
            use_count=record.use_count + count,
            last_used_at=last if before is None else max(before, last),
        )


async def _one(cur: Any) -> tuple[Any, ...]:
    row = await cur.fetchone()
    assert row is not None  # an INSERT or UPDATE ... RETURNING that matched
    return tuple(row)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
