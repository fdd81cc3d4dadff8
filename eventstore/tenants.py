"""The organisations' table the event store's foreign keys point at: an organisation's name (the
signature of its emails, its people's pages), for every part that needs it (access, notifications).
"""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from core.ids import is_uuid
from eventstore.pool import pooled


async def tenant_name(pool: AsyncConnectionPool[Any], tenant_id: str) -> str | None:
    """The organisation's name; None when there is no such organisation."""
    if not is_uuid(tenant_id):
        return None
    async with pooled(pool) as conn:
        row = await (
            await conn.execute("SELECT name FROM tenants WHERE tenant_id = %s", (tenant_id,))
        ).fetchone()
    return None if row is None else str(row[0])
