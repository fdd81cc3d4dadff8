"""An organisation's own records beside its people: the tenant row a sign-up makes, its name
(the signature of its emails), its audit entries, and a person's open sessions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from access.audit_store import append as audit
from eventstore.pool import pooled
from eventstore.tenants import tenant_name as tenant_name  # where access's callers look for it

Pool = AsyncConnectionPool[Any]
Conn = AsyncConnection[Any]


async def insert_tenant(conn: Conn, name: str) -> str:
    """A new organisation (without an API key: its first admin signs in as a person)."""
    tenant_id = str(uuid.uuid4())
    await conn.execute(
        "INSERT INTO tenants (tenant_id, name) VALUES (%s, %s)", (tenant_id, name.strip())
    )
    return tenant_id


async def open_sessions(pool: Pool, tenant_id: str, user_id: str) -> list[str]:
    """The person's sessions that have not ended (to end all but the caller's own)."""
    async with pooled(pool) as conn:
        rows = await (
            await conn.execute(
                """SELECT session_id::text FROM sessions
                    WHERE tenant_id = %s AND user_id = %s AND ended_at IS NULL""",
                (tenant_id, user_id),
            )
        ).fetchall()
    return [row[0] for row in rows]


async def record(
    conn: Conn,
    *,
    tenant_id: str,
    actor: str,
    action: str,
    subject: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """An entry of the audit trail, inside the caller's transaction when it has one."""
    await audit(
        conn,
        tenant_id=tenant_id,
        at=datetime.now(UTC),
        actor=actor,
        action=action,
        subject=subject,
        detail=detail,
    )


async def record_alone(pool: Pool, **entry: Any) -> None:
    """An entry of the audit trail, in a transaction of its own."""
    async with pooled(pool) as conn:
        await record(conn, **entry)
