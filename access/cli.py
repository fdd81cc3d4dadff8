"""`vq tenants create` (a tenant and its first admin key), `vq audit verify` (the audit
trail's hash chain, end to end) and `vq access table` (the permission table, as the README shows
it)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from core.settings import get_settings

# The README's permission table sits between these two lines (`vq access table --update`).
TABLE_START = "<!-- permissions:start (vq access table --update README.md) -->"
TABLE_END = "<!-- permissions:end -->"


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
    access = sub.add_parser("access", help="roles and permissions")
    a_sub = access.add_subparsers(dest="access_command", metavar="ACTION", required=True)
    table = a_sub.add_parser("table", help="print the permission table (Markdown)")
    table.add_argument(
        "--update",
        type=Path,
        metavar="README",
        help="rewrite the table between its markers in this file instead of printing it",
    )
    table.set_defaults(func=_table)


def _table(args: argparse.Namespace) -> int:
    from access.permissions import table_markdown

    if args.update is None:
        print(table_markdown())
        return 0
    text = args.update.read_text(encoding="utf-8")
    updated = with_table(text, table_markdown())
    if updated is None:
        print(
            f"vq access table: no {TABLE_START} ... {TABLE_END} in {args.update}", file=sys.stderr
        )
        return 1
    if updated != text:
        args.update.write_text(updated, encoding="utf-8")
    return 0


def with_table(text: str, table: str) -> str | None:
    """`text` with the table between the markers replaced (None: no markers)."""
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        return None
    return text[: start + len(TABLE_START)] + "\n" + table + "\n" + text[end:]


def table_in(text: str) -> str | None:
    """The table between the markers (None: no markers)."""
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        return None
    return text[start + len(TABLE_START) : end].strip("\n")


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
            directory = TenantDirectory(PostgresEventStore(pool))
            return await directory.create_tenant(args.name, actor="operator")
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
