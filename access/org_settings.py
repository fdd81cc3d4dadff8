"""An organisation's (tenant's) access settings: which roles must use a second factor, its own
rate limit, and the origins its browsers may call the API from.

INTERFACE STUB (issue 20): the bodies are being written; the signatures are the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgSettings:
    mfa_roles: frozenset[str] = frozenset()
    # Requests per minute per client; None: the deployment's default (VQ_RATE_LIMIT_PER_MINUTE).
    rate_limit_per_minute: int | None = None
    cors_origins: tuple[str, ...] = field(default_factory=tuple)


async def org_settings(pool: AsyncConnectionPool[Any], tenant_id: str) -> OrgSettings:
    """The tenant's settings (cached for a few seconds per process); defaults when none set."""
    return OrgSettings()
