"""`vq db migrate` and `vq tenants create`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import psycopg

from core.settings import get_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="the event store's database")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    migrate = db_sub.add_parser("migrate", help="create or upgrade the event store schema")
    migrate.set_defaults(func=_migrate)

    tenants = sub.add_parser("tenants", help="tenants and their API keys")
    t_sub = tenants.add_subparsers(dest="tenants_command", metavar="ACTION", required=True)
    create = t_sub.add_parser("create", help="create a tenant; prints its id and an admin key")
    create.add_argument("name")
    create.set_defaults(func=_create_tenant)


def _migrate(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        applied = migrate_schema(settings.pg_url, settings.db_schema)
    except psycopg.OperationalError as exc:
        print(
            f"vq db migrate: PostgreSQL is not reachable ({exc}); start it with `vq stack up`",
            file=sys.stderr,
        )
        return 1
    if applied:
        for name in applied:
            print(f"applied {name}")
    else:
        print(f"schema {settings.db_schema} is up to date")
    return 0


def migrate_schema(url: str, schema: str) -> list[str]:
    from eventstore.migrate import migrate

    return [f"{m.version:04d}_{m.name}" for m in migrate(url, schema)]


def _create_tenant(args: argparse.Namespace) -> int:
    from eventstore.pool import open_pool
    from eventstore.postgres import PostgresEventStore
    from eventstore.tenants import TenantDirectory

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
