"""`vq db migrate`."""

from __future__ import annotations

import argparse
import sys

import psycopg

from core.settings import get_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="the event store's database")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    migrate = db_sub.add_parser("migrate", help="create or upgrade the event store schema")
    migrate.set_defaults(func=_migrate)


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
