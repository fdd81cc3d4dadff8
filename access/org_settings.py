"""An organisation's (tenant's) access settings: which roles must use a second factor, its own
rate limit, and the origins its browsers may call the API from.

Read on every request that needs them (a person's sign-in, a rate limit, a cross-origin call), so
each process keeps them for a few seconds: a change reaches every replica within `CACHE_TTL_S`
(the replica that made it at once).
"""

from __future__ import annotations

import ipaddress
import re
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cachetools import TTLCache
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from access import audit_store
from access.permissions import PERSON_ROLES
from eventstore.pool import pooled

CACHE_TTL_S = 5.0
_CACHE_MAX = 10_000
RATE_LIMIT_MIN = 60
RATE_LIMIT_MAX = 100_000
MAX_ORIGINS = 50
_DEFAULT_PORTS = {"http": 80, "https": 443}
# One DNS label: letters, digits, inner hyphens (IDNs in their xn-- form).
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgSettings:
    mfa_roles: frozenset[str] = frozenset()
    # Requests per minute per client; None: the deployment's default (VQ_RATE_LIMIT_PER_MINUTE).
    rate_limit_per_minute: int | None = None
    cors_origins: tuple[str, ...] = field(default_factory=tuple)

    def changes(self, new: OrgSettings) -> dict[str, dict[str, Any]]:
        """What differs, field by field, as the audit trail records it: {field: {old, new}}."""
        old_view, new_view = self.as_json(), new.as_json()
        return {
            name: {"old": old_view[name], "new": new_view[name]}
            for name in old_view
            if old_view[name] != new_view[name]
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "mfa_roles": sorted(self.mfa_roles),
            "rate_limit_per_minute": self.rate_limit_per_minute,
            "cors_origins": list(self.cors_origins),
        }


def normal_origin(text: str) -> str:
    """An exact web origin (`scheme://host[:port]`), in the form browsers send it: lower case,
    no default port. Raises ValueError (saying why) for anything else: a path, a wildcard, a
    user name, a scheme other than http or https."""
    raw = text.strip().removesuffix("/")
    if not raw or len(raw) > 300 or any(c.isspace() or ord(c) < 0x20 for c in raw):
        raise ValueError("an origin is scheme://host[:port], e.g. https://clinic.example")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ValueError(f"{raw!r} is not an origin (scheme://host[:port])") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"{raw!r}: an origin's scheme is http or https")
    if parts.path or parts.query or parts.fragment or "@" in parts.netloc or raw[-1] in "?#":
        raise ValueError(f"{raw!r}: an origin has no path, query or user (scheme://host[:port])")
    if port == 0:
        raise ValueError(f"{raw!r}: port 0 is no port")
    host = _host(parts.hostname or "", raw)
    shown_port = "" if port is None or port == _DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{host}{shown_port}"


def _host(hostname: str, raw: str) -> str:
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        labels = hostname.split(".")
        if len(hostname) > 253 or not all(_LABEL.match(label) for label in labels):
            raise ValueError(
                f"{raw!r}: the host must be a domain name (IDNs as xn--) or an IP address, "
                "without wildcards"
            ) from None
        return hostname
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def normal_origins(texts: Iterable[str]) -> tuple[str, ...]:
    """Each origin normalised, duplicates dropped, in the order given (at most MAX_ORIGINS)."""
    found = tuple(dict.fromkeys(normal_origin(text) for text in texts))
    if len(found) > MAX_ORIGINS:
        raise ValueError(f"at most {MAX_ORIGINS} origins")
    return found


def check(settings: OrgSettings) -> OrgSettings:
    """`settings` if every value is allowed (ValueError otherwise), origins normalised."""
    unknown = settings.mfa_roles - set(PERSON_ROLES)
    if unknown:
        raise ValueError(f"mfa_roles are roles people hold ({', '.join(PERSON_ROLES)})")
    limit = settings.rate_limit_per_minute
    if limit is not None and not RATE_LIMIT_MIN <= limit <= RATE_LIMIT_MAX:
        raise ValueError(f"rate_limit_per_minute is {RATE_LIMIT_MIN} to {RATE_LIMIT_MAX} (or null)")
    return OrgSettings(
        mfa_roles=settings.mfa_roles,
        rate_limit_per_minute=limit,
        cors_origins=normal_origins(settings.cors_origins),
    )


# Per pool (one database), per process. Weak: a closed pool's answers go with it.
_caches: weakref.WeakKeyDictionary[AsyncConnectionPool[Any], TTLCache[str, OrgSettings]] = (
    weakref.WeakKeyDictionary()
)


def _cache(pool: AsyncConnectionPool[Any]) -> TTLCache[str, OrgSettings]:
    found = _caches.get(pool)
    if found is None:
        found = _caches[pool] = TTLCache(_CACHE_MAX, CACHE_TTL_S, time.monotonic)
    return found


_COLUMNS = "mfa_roles, rate_limit_per_minute, cors_origins"


def _from_row(row: tuple[Any, ...] | None) -> OrgSettings:
    if row is None:
        return OrgSettings()
    mfa_roles, limit, origins = row
    return OrgSettings(
        mfa_roles=frozenset(mfa_roles), rate_limit_per_minute=limit, cors_origins=tuple(origins)
    )


async def org_settings(pool: AsyncConnectionPool[Any], tenant_id: str) -> OrgSettings:
    """The tenant's settings (cached for a few seconds per process); defaults when none set.
    PostgreSQL unavailable (and nothing cached): StoreUnavailable, a 503."""
    cache = _cache(pool)
    # One lookup: `in` then `[]` races the TTL (the entry can expire in between: a KeyError).
    found = cache.get(tenant_id)
    if found is not None:
        return found
    async with pooled(pool) as conn:
        cur = await conn.execute(
            f"SELECT {_COLUMNS} FROM org_settings WHERE tenant_id = %s", (tenant_id,)
        )
        settings = _from_row(await cur.fetchone())
    cache[tenant_id] = settings
    return settings


def forget(pool: AsyncConnectionPool[Any], tenant_id: str) -> None:
    """Drop this process's copy (after a change: this replica sees it at once)."""
    _cache(pool).pop(tenant_id, None)


async def all_cors_origins(pool: AsyncConnectionPool[Any]) -> frozenset[str]:
    """Every origin some organisation allows (a preflight carries no credentials, so it cannot
    say whose browser asks). Not cached here: the caller keeps it (http_api/security.py)."""
    async with pooled(pool) as conn:
        cur = await conn.execute(
            "SELECT DISTINCT unnest(cors_origins) FROM org_settings "
            "WHERE cardinality(cors_origins) > 0"
        )
        return frozenset(row[0] for row in await cur.fetchall())


async def change_org_settings(
    pool: AsyncConnectionPool[Any], tenant_id: str, new: OrgSettings, *, actor: str, at: datetime
) -> OrgSettings:
    """Replace the tenant's settings with `new` (checked first: ValueError), and record what
    changed in the audit trail in the same transaction. Returns the settings now in force."""
    new = check(new)
    async with pooled(pool) as conn, conn.transaction():
        old = await _locked(conn, tenant_id)
        changes = old.changes(new)
        if changes:
            await conn.execute(
                """UPDATE org_settings
                      SET mfa_roles = %s, rate_limit_per_minute = %s, cors_origins = %s,
                          updated_at = %s, updated_by = %s
                    WHERE tenant_id = %s""",
                (sorted(new.mfa_roles), new.rate_limit_per_minute, list(new.cors_origins),
                 at, actor, tenant_id),
            )  # fmt: skip
            await audit_store.append(
                conn,
                tenant_id=tenant_id,
                at=at,
                actor=actor,
                action="settings.changed",
                subject="access",
                detail={"changes": changes},
            )
    forget(pool, tenant_id)
    return new


async def _locked(conn: AsyncConnection[Any], tenant_id: str) -> OrgSettings:
    """The tenant's settings, its row locked until the transaction ends (made first if missing,
    so two changes at once take turns and each records what it really replaced)."""
    await conn.execute(
        "INSERT INTO org_settings (tenant_id) VALUES (%s) ON CONFLICT DO NOTHING", (tenant_id,)
    )
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM org_settings WHERE tenant_id = %s FOR UPDATE", (tenant_id,)
    )
    return _from_row(await cur.fetchone())
