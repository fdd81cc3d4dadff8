"""`vq tenants create` (a tenant and its first admin key) and `vq audit verify` (the audit
trail's hash chain, end to end)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from core.settings import get_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="the security audit trail")
    verbs = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = verbs.add_parser("verify", help="check that no entry was edited or deleted")
    verify.set_defaults(func=_verify)
    tenants = sub.add_parser("tenants", help="tenants and their API keys")
    t_sub = tenants.add_subparsers(dest="tenants_command", metavar="ACTION", required=True)
    create = t_sub.add_parser("create", help="create a tenant; prints its id and an admin key")
    create.add_argument("name")
    create.set_defaults(func=_create_tenant)


def _create_tenant(args: argparse.Namespace) -> int:
    from access.directory import TenantDirectory
    from eventstore.cli import migrate_schema
    from eventstore.pool import open_pool
    from eventstore.postgres import PostgresEventStore

    settings = get_settings()
    migrate_schema(settings.pg_url, settings.db_schema)

    async def create() -> tuple[str, Any]:
        pool = await open_pool(settings, wait=True)
        try:
            return await TenantDirectory(PostgresEventStore(pool)).create_tenant(args.name)
        finally:
            await pool.close()

    tenant_id, issued = asyncio.run(create())
    print(f"tenant_id  {tenant_id}")
    print(f"admin_key  {issued.secret}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from access.audit_store import verify
    from eventstore.pool import open_pool

    async def main() -> int:
        pool = await open_pool(get_settings(), min_size=1, max_size=1, wait=True)
        try:
            checked, broken = await verify(pool)
        finally:
            await pool.close()
        if broken is not None:
            print(f"vq audit verify: {broken} (the {checked} entries before it are intact)")
            return 1
        print(f"audit trail intact: {checked} entries")
        return 0

    return asyncio.run(main())
