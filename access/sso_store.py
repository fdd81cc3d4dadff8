"""An organisation's single sign-on settings (table `sso_settings`, migration 0012): its OpenID
provider (issuer), its client there, and how the provider's claim maps onto the product's roles.

The client secret is sealed with the deployment's secret key (access/sealed.py) and only ever
unsealed to call the provider's token endpoint; nothing reads it back out. Every change is
audited (`sso.settings_changed`) in the same transaction as the change itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from access import audit_store
from access.permissions import PERSON_ROLES, Role
from access.sealed import seal, unseal
from eventstore.pool import pooled

_COLUMNS = (
    "tenant_id::text, issuer, client_id, client_secret, scopes, role_claim, role_map, "
    "default_role, email_domains, enabled, updated_at"
)


class SecretRequired(ValueError):
    """The first settings of an organisation must carry the client secret."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SsoSettings:
    tenant_id: str
    issuer: str
    client_id: str
    # Sealed (access/sealed.py): `client_secret(secret_key)` opens it for the token endpoint.
    sealed_secret: bytes = field(repr=False)
    scopes: tuple[str, ...]
    role_claim: str
    role_map: Mapping[str, Role]
    default_role: Role | None
    email_domains: tuple[str, ...]
    enabled: bool
    updated_at: datetime

    def client_secret(self, secret_key: str) -> str:
        """The client secret; ValueError when it was sealed under another secret key."""
        return unseal(secret_key, self.sealed_secret).decode("utf-8")


@dataclass(frozen=True, slots=True, kw_only=True)
class SsoChange:
    """What an admin sets (`client_secret` None: keep the one stored)."""

    issuer: str
    client_id: str
    client_secret: str | None = field(repr=False)
    scopes: tuple[str, ...] = ()
    role_claim: str = "groups"
    role_map: Mapping[str, Role] = field(default_factory=dict)
    default_role: Role | None = None
    email_domains: tuple[str, ...] = ()
    enabled: bool = True

    def __post_init__(self) -> None:
        roles = [*self.role_map.values(), *([self.default_role] if self.default_role else [])]
        wrong = sorted({r for r in roles if r not in PERSON_ROLES})
        if wrong:
            raise ValueError(f"not roles a person may hold: {', '.join(wrong)}")


def _settings(row: tuple[Any, ...]) -> SsoSettings:
    tenant, issuer, client, sealed, scopes, claim, role_map, default, domains, enabled, at = row
    return SsoSettings(
        tenant_id=tenant,
        issuer=issuer,
        client_id=client,
        sealed_secret=bytes(sealed),
        scopes=tuple(scopes or ()),
        role_claim=claim,
        role_map=cast(dict[str, Role], dict(role_map or {})),
        default_role=cast(Role | None, default),
        email_domains=tuple(domains or ()),
        enabled=enabled,
        updated_at=at,
    )


async def get_sso(pool: AsyncConnectionPool[Any], tenant_id: str) -> SsoSettings | None:
    async with pooled(pool) as conn:
        return await _get(conn, tenant_id)


async def _get(
    conn: AsyncConnection[Any], tenant_id: str, *, lock: bool = False
) -> SsoSettings | None:
    query = f"SELECT {_COLUMNS} FROM sso_settings WHERE tenant_id = %s"
    row = await (
        await conn.execute(query + (" FOR UPDATE" if lock else ""), (tenant_id,))
    ).fetchone()
    return None if row is None else _settings(row)


def _audited(before: SsoSettings | None, change: SsoChange) -> dict[str, Any]:
    """What the audit entry says changed (never the secret itself)."""
    now = {
        "issuer": change.issuer,
        "client_id": change.client_id,
        "scopes": list(change.scopes),
        "role_claim": change.role_claim,
        "role_map": dict(change.role_map),
        "default_role": change.default_role,
        "email_domains": list(change.email_domains),
        "enabled": change.enabled,
    }
    if before is None:
        return {**now, "created": True, "secret_changed": True}
    was = {
        "issuer": before.issuer,
        "client_id": before.client_id,
        "scopes": list(before.scopes),
        "role_claim": before.role_claim,
        "role_map": dict(before.role_map),
        "default_role": before.default_role,
        "email_domains": list(before.email_domains),
        "enabled": before.enabled,
    }
    changed = {name: value for name, value in now.items() if was[name] != value}
    return {**changed, "secret_changed": change.client_secret is not None}


async def put_sso(
    pool: AsyncConnectionPool[Any],
    secret_key: str,
    tenant_id: str,
    change: SsoChange,
    *,
    actor: str,
    at: datetime,
) -> SsoSettings:
    """Set the organisation's settings (made or replaced), audited; SecretRequired when there is
    no secret stored yet and none given."""
    async with pooled(pool) as conn, conn.transaction():
        before = await _get(conn, tenant_id, lock=True)
        if change.client_secret is not None:
            sealed = seal(secret_key, change.client_secret.encode("utf-8"))
        elif before is not None:
            sealed = before.sealed_secret
        else:
            raise SecretRequired("the client secret is required when single sign-on is first set")
        row = await (
            await conn.execute(
                f"""INSERT INTO sso_settings ({_COLUMNS.replace("::text", "")})
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (tenant_id) DO UPDATE SET
                        issuer = EXCLUDED.issuer, client_id = EXCLUDED.client_id,
                        client_secret = EXCLUDED.client_secret, scopes = EXCLUDED.scopes,
                        role_claim = EXCLUDED.role_claim, role_map = EXCLUDED.role_map,
                        default_role = EXCLUDED.default_role,
                        email_domains = EXCLUDED.email_domains, enabled = EXCLUDED.enabled,
                        updated_at = EXCLUDED.updated_at
                    RETURNING {_COLUMNS}""",
                _values(tenant_id, change, sealed, at),
            )
        ).fetchone()
        assert row is not None  # an upsert returns its row
        await audit_store.append(
            conn,
            tenant_id=tenant_id,
            at=at,
            actor=actor,
            action="sso.settings_changed",
            subject="sso",
            detail=_audited(before, change),
        )
    return _settings(row)


def _values(tenant_id: str, change: SsoChange, sealed: bytes, at: datetime) -> Sequence[Any]:
    return (
        tenant_id,
        change.issuer,
        change.client_id,
        sealed,
        list(change.scopes),
        change.role_claim,
        Jsonb(dict(change.role_map)),
        change.default_role,
        list(change.email_domains),
        change.enabled,
        at,
    )


async def delete_sso(
    pool: AsyncConnectionPool[Any], tenant_id: str, *, actor: str, at: datetime
) -> bool:
    """Remove the settings (people signed in by SSO keep their accounts); False when none."""
    async with pooled(pool) as conn, conn.transaction():
        gone = await (
            await conn.execute(
                "DELETE FROM sso_settings WHERE tenant_id = %s RETURNING issuer, client_id",
                (tenant_id,),
            )
        ).fetchone()
        if gone is None:
            return False
        await audit_store.append(
            conn,
            tenant_id=tenant_id,
            at=at,
            actor=actor,
            action="sso.settings_changed",
            subject="sso",
            detail={"removed": True, "issuer": gone[0], "client_id": gone[1]},
        )
    return True
