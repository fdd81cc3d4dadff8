"""Webhook endpoints: where a tenant's systems want its events, and the secrets that sign them.

The tenant manages them through the API (and may disable one by hand); the webhook workers read
them for every message (`active_endpoints`, remembered ACTIVE_TTL_S per tenant and forgotten at
once in this process on every change) and record how they fare (`note_failure`, `note_success`,
`disable_endpoint`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from cachetools import TTLCache

from notifications.signing import new_secret
from notifications.store.db import Db, Pool, changed, fetch_all, fetch_one

DEFAULT_RATE_PER_S = 50
ROTATION_OVERLAP_S = 86400
ACTIVE_TTL_S = 2.0
_CACHE_MAX = 10_000

_COLUMNS = (
    "endpoint_id::text, tenant_id::text, url, description, event_types, secret, previous_secret, "
    "previous_until, rate_per_s, disabled_at, disabled_reason, failing_since, created_at"
)
_active: TTLCache[str, list[Endpoint]] = TTLCache(_CACHE_MAX, ACTIVE_TTL_S)
# The delivery workers look an endpoint up per message: a second's staleness across processes
# (a change made here is seen at once), for one query a second per endpoint instead of hundreds.
BY_ID_TTL_S = 1.0
_UNSEEN = object()
_by_id: TTLCache[str, Endpoint | None] = TTLCache(_CACHE_MAX, BY_ID_TTL_S)


@dataclass(frozen=True, slots=True)
class Endpoint:
    endpoint_id: str
    tenant_id: str
    url: str
    description: str
    event_types: tuple[str, ...]  # empty: every type
    secret: str = field(repr=False)  # never in a log
    previous_secret: str | None = field(repr=False)
    previous_until: datetime | None
    rate_per_s: int
    disabled_at: datetime | None
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets a message is signed with now: the newest, and during a rotation the
        previous one too (receivers that have not switched yet still verify)."""
        secrets = [self.secret]
        if self.previous_secret and self.previous_until is not None and now < self.previous_until:
            secrets.append(self.previous_secret)
        return secrets

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


def _endpoint(row: tuple[Any, ...]) -> Endpoint:
    values = list(row)
    values[4] = tuple(values[4] or ())
    return Endpoint(*values)


def _forget(tenant_id: str | None) -> None:
    _by_id.clear()
    if tenant_id is None:
        return
    _active.pop(tenant_id, None)


async def _one(db: Db, query: str, args: Sequence[Any]) -> Endpoint | None:
    row = await fetch_one(db, query, args)
    if row is None:
        return None
    found = _endpoint(row)
    _forget(found.tenant_id)
    return found


# -- the tenant's side -----------------------------------------------------------------------------


async def create_endpoint(
    db: Db,
    tenant_id: str,
    *,
    url: str,
    description: str = "",
    event_types: Sequence[str] = (),
    rate_per_s: int = DEFAULT_RATE_PER_S,
) -> Endpoint:
    found = await _one(
        db,
        f"""INSERT INTO webhook_endpoints
                (endpoint_id, tenant_id, url, description, event_types, secret, rate_per_s)
            VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}""",
        (str(uuid.uuid4()), tenant_id, url, description, list(event_types), new_secret(),
         rate_per_s),
    )  # fmt: skip
    assert found is not None  # an insert returns its row
    return found


async def list_endpoints(pool: Pool, tenant_id: str) -> list[Endpoint]:
    rows = await fetch_all(
        pool,
        f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE tenant_id = %s "
        "ORDER BY created_at, endpoint_id",
        (tenant_id,),
    )
    return [_endpoint(row) for row in rows]


async def get_endpoint(db: Db, tenant_id: str, endpoint_id: str) -> Endpoint | None:
    row = await fetch_one(
        db,
        f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE tenant_id = %s AND endpoint_id = %s",
        (tenant_id, endpoint_id),
    )
    return None if row is None else _endpoint(row)


async def update_endpoint(
    db: Db,
    tenant_id: str,
    endpoint_id: str,
    *,
    url: str | None = None,
    description: str | None = None,
    event_types: Sequence[str] | None = None,
    rate_per_s: int | None = None,
) -> Endpoint | None:
    """Change the fields given (None: unchanged; `event_types=[]`: every type)."""
    return await _one(
        db,
        f"""UPDATE webhook_endpoints SET url = COALESCE(%s, url),
                description = COALESCE(%s, description),
                event_types = COALESCE(%s::text[], event_types),
                rate_per_s = COALESCE(%s, rate_per_s)
            WHERE tenant_id = %s AND endpoint_id = %s RETURNING {_COLUMNS}""",
        (url, description, None if event_types is None else list(event_types), rate_per_s,
         tenant_id, endpoint_id),
    )  # fmt: skip


async def delete_endpoint(db: Db, tenant_id: str, endpoint_id: str) -> bool:
    count = await changed(
        db,
        "DELETE FROM webhook_endpoints WHERE tenant_id = %s AND endpoint_id = %s",
        (tenant_id, endpoint_id),
    )
    _forget(tenant_id)
    return count > 0


async def rotate_secret(
    db: Db, tenant_id: str, endpoint_id: str, overlap_s: float = ROTATION_OVERLAP_S
) -> Endpoint | None:
    """A new secret; the old one keeps signing (beside it) for `overlap_s` seconds."""
    return await _one(
        db,
        f"""UPDATE webhook_endpoints SET previous_secret = secret, secret = %s,
                previous_until = now() + make_interval(secs => %s)
            WHERE tenant_id = %s AND endpoint_id = %s RETURNING {_COLUMNS}""",
        (new_secret(), float(overlap_s), tenant_id, endpoint_id),
    )


async def enable_endpoint(db: Db, tenant_id: str, endpoint_id: str) -> Endpoint | None:
    """Deliver to it again (after it was disabled), with a clean failure record."""
    return await _one(
        db,
        f"""UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL,
                failing_since = NULL
            WHERE tenant_id = %s AND endpoint_id = %s RETURNING {_COLUMNS}""",
        (tenant_id, endpoint_id),
    )


async def disable_by_hand(db: Db, tenant_id: str, endpoint_id: str, reason: str) -> Endpoint | None:
    """Stop delivering to it, as `disable_endpoint` does; an endpoint disabled already keeps
    its time and reason (so disabling twice changes nothing). None: not the tenant's."""
    return await _one(
        db,
        f"""UPDATE webhook_endpoints SET disabled_at = COALESCE(disabled_at, now()),
                disabled_reason = CASE WHEN disabled_at IS NULL THEN %s ELSE disabled_reason END
            WHERE tenant_id = %s AND endpoint_id = %s RETURNING {_COLUMNS}""",
        (reason, tenant_id, endpoint_id),
    )


# -- the webhook workers' side ---------------------------------------------------------------------


async def endpoint_by_id(pool: Pool, endpoint_id: str) -> Endpoint | None:
    cached = _by_id.get(endpoint_id, _UNSEEN)  # one lookup: `in` then `[]` races the TTL
    if cached is not _UNSEEN:
        return cast("Endpoint | None", cached)
    row = await fetch_one(
        pool, f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE endpoint_id = %s", (endpoint_id,)
    )
    found = _by_id[endpoint_id] = None if row is None else _endpoint(row)
    return found


async def active_endpoints(pool: Pool, tenant_id: str) -> list[Endpoint]:
    """The tenant's endpoints that are not disabled (as of at most ACTIVE_TTL_S ago)."""
    found = _active.get(tenant_id)
    if found is None:
        rows = await fetch_all(
            pool,
            f"""SELECT {_COLUMNS} FROM webhook_endpoints
                WHERE tenant_id = %s AND disabled_at IS NULL ORDER BY created_at, endpoint_id""",
            (tenant_id,),
        )
        found = _active[tenant_id] = [_endpoint(row) for row in rows]
    return list(found)


async def disable_endpoint(pool: Pool, endpoint_id: str, reason: str) -> bool:
    """Stop delivering to it (a 410, or failing for too long); False if it was already."""
    row = await fetch_one(
        pool,
        """UPDATE webhook_endpoints SET disabled_at = now(), disabled_reason = %s
           WHERE endpoint_id = %s AND disabled_at IS NULL RETURNING tenant_id::text""",
        (reason, endpoint_id),
    )
    _forget(None if row is None else row[0])
    return row is not None


async def note_failure(pool: Pool, endpoint_id: str, at: datetime) -> datetime:
    """Since when the endpoint has been failing without a success in between (`at`, if this is
    the first failure)."""
    row = await fetch_one(
        pool,
        """UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, %s)
           WHERE endpoint_id = %s RETURNING failing_since""",
        (at, endpoint_id),
    )
    since: datetime = at if row is None else row[0]
    return since


async def note_success(pool: Pool, endpoint_id: str) -> None:
    # Only a failing endpoint is written to: successes are the common case.
    await changed(
        pool,
        """UPDATE webhook_endpoints SET failing_since = NULL
           WHERE endpoint_id = %s AND failing_since IS NOT NULL""",
        (endpoint_id,),
    )
