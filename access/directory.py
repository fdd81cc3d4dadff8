"""Tenants and their API keys, kept beside the event store in the same database.

A key is shown once, when it is made; the table keeps only its SHA-256, so a copy of the database
gives nobody a usable key.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from access.permissions import Role
from eventstore.postgres import PostgresEventStore

KEY_PREFIX = "vq_"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    key_id: str
    tenant_id: str
    name: str
    role: Role


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedKey:
    key: ApiKey
    secret: str


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class TenantDirectory:
    def __init__(self, store: PostgresEventStore) -> None:
        self._store = store

    async def create_tenant(self, name: str) -> tuple[str, IssuedKey]:
        tenant_id = str(uuid.uuid4())
        async with self._store.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO tenants (tenant_id, name) VALUES (%s, %s)", (tenant_id, name)
            )
            issued = await self._insert_key(conn, tenant_id, "admin", "admin")
        return tenant_id, issued

    async def create_key(self, tenant_id: str, name: str, role: Role) -> IssuedKey:
        async with self._store.connection() as conn:
            return await self._insert_key(conn, tenant_id, name, role)

    async def _insert_key(
        self, conn: AsyncConnection[Any], tenant_id: str, name: str, role: Role
    ) -> IssuedKey:
        key = ApiKey(key_id=str(uuid.uuid4()), tenant_id=tenant_id, name=name, role=role)
        secret = new_secret()
        await conn.execute(
            "INSERT INTO api_keys (key_id, tenant_id, name, role, key_hash) "
            "VALUES (%s, %s, %s, %s, %s)",
            (key.key_id, tenant_id, name, role, hash_secret(secret)),
        )
        return IssuedKey(key=key, secret=secret)

    async def authenticate(self, secret: str) -> ApiKey | None:
        async with self._store.connection() as conn:
            cur = await conn.execute(
                "SELECT key_id::text, tenant_id::text, name, role FROM api_keys "
                "WHERE key_hash = %s AND revoked_at IS NULL",
                (hash_secret(secret),),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        return ApiKey(key_id=row[0], tenant_id=row[1], name=row[2], role=row[3])

    async def list_keys(self, tenant_id: str) -> list[ApiKey]:
        async with self._store.connection() as conn:
            cur = await conn.execute(
                "SELECT key_id::text, tenant_id::text, name, role FROM api_keys "
                "WHERE tenant_id = %s AND revoked_at IS NULL ORDER BY created_at",
                (tenant_id,),
            )
            rows = await cur.fetchall()
        return [ApiKey(key_id=r[0], tenant_id=r[1], name=r[2], role=r[3]) for r in rows]

    async def revoke_key(self, tenant_id: str, key_id: str) -> bool:
        async with self._store.connection() as conn:
            cur = await conn.execute(
                "UPDATE api_keys SET revoked_at = now() "
                "WHERE tenant_id = %s AND key_id = %s AND revoked_at IS NULL",
                (tenant_id, key_id),
            )
            return cur.rowcount == 1
