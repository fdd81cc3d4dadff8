"""Versioned migrations: `NNNN_name.sql` files applied in order, each once, under a lock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# One lock per schema: two `vq db migrate` of one schema at once take turns; other schemas' do not
# wait (nothing a migration makes lives outside its schema).
_LOCK = "SELECT pg_advisory_lock(hashtextextended('vq-migrate:' || %s, 0))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended('vq-migrate:' || %s, 0))"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    found = []
    for entry in resources.files("eventstore.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def migrate(conninfo: str, schema: str, up_to: int | None = None) -> list[Migration]:
    """Bring `schema` up to date (or up to version `up_to`); returns the migrations applied now
    (none when up to date)."""
    applied_now: list[Migration] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(_LOCK, (schema,))
        try:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for migration in available():
                if migration.version in done or (up_to is not None and migration.version > up_to):
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                applied_now.append(migration)
        finally:
            conn.execute(_UNLOCK, (schema,))
    return applied_now
