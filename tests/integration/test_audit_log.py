"""The audit trail in PostgreSQL: appends from many callers at once make one gapless chain, and
`vq audit verify` passes on it, then names the first entry after a row is edited or deleted by
hand."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from access import audit_store
from access.audit_store import append, verify
from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.migrate import migrate
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from tests.conftest import drop_schema, fresh_settings
from tests.integration.servers import settings_env


def _vq_audit_verify(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vq.cli", "audit", "verify"],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_concurrent_appends_make_one_chain_and_verify_names_tampering(
    settings: Settings, pool: Any, tenant_id: str
) -> None:
    async def appender(n: int) -> None:
        for i in range(10):
            async with pool.connection() as conn:
                await append(
                    conn,
                    tenant_id=tenant_id,
                    at=datetime.now(UTC),
                    actor=f"key-{n}",
                    action="key_created",
                    subject=f"k{n}-{i}",
                    detail={"role": "staff"},
                )

    await asyncio.gather(*(appender(n) for n in range(8)))
    assert await verify(pool) == (80, None)
    intact = _vq_audit_verify(settings)
    assert intact.returncode == 0 and "intact: 80 entries" in intact.stdout, intact

    table = sql.Identifier(settings.db_schema, "audit_log")
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("""UPDATE {} SET detail = '{{"role": "admin"}}' WHERE seq = 42""").format(table)
        )
    edited = _vq_audit_verify(settings)
    assert edited.returncode == 1 and "#42" in edited.stdout and "edited" in edited.stdout, edited

    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DELETE FROM {} WHERE seq BETWEEN 10 AND 12").format(table))
    deleted = _vq_audit_verify(settings)
    assert deleted.returncode == 1 and "#10" in deleted.stdout and "deleted" in deleted.stdout


async def test_verify_names_the_first_of_several_edits_to_real_key_events(
    settings: Settings, store: PostgresEventStore
) -> None:
    directory = TenantDirectory(store)
    tenant_id, admin = await directory.create_tenant("Clinic", actor="operator")
    staff = await directory.create_key(tenant_id, "desk", "staff", actor=f"key:{admin.key.key_id}")
    await directory.rotate_key(tenant_id, staff.key.key_id, overlap=timedelta(hours=1))
    await directory.revoke_key(tenant_id, staff.key.key_id)
    intact = _vq_audit_verify(settings)
    assert intact.returncode == 0 and "intact: 5 entries" in intact.stdout, intact

    # Someone with database access makes the staff key look like an admin's, and hides when
    # it was revoked: verification names the first of the two rows.
    table = sql.Identifier(settings.db_schema, "audit_log")
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("UPDATE {} SET at = at - interval '1 day' WHERE action = 'key.revoked'").format(
                table
            )
        )
        conn.execute(
            sql.SQL(
                "UPDATE {} SET detail = jsonb_set(detail, '{{role}}', '\"admin\"') "
                "WHERE action = 'key.created' AND subject = %s"
            ).format(table),
            (f"key:{staff.key.key_id}",),
        )
    edited = _vq_audit_verify(settings)
    assert edited.returncode == 1, edited
    assert "audit entry #3: its contents do not match its hash: edited" in edited.stdout
    assert "the 2 entries before it are intact" in edited.stdout


async def _seq_of(conn: Any, subject: str) -> int:
    """Append an entry about `subject`; its place in the chain."""
    made = await append(
        conn, tenant_id=None, at=datetime.now(UTC), actor="operator", action="t", subject=subject
    )
    return made.seq


async def test_an_open_audit_append_holds_its_own_schemas_chain_and_no_other(
    settings: Settings, pool: Any, tenant_id: str, stack_env: dict[str, str]
) -> None:
    """Appends take turns within a schema (each links to the one before); another deployment's
    schema on the same server keeps its own chain and does not wait behind this one."""

    other = fresh_settings(stack_env)
    migrate(other.pg_url, other.db_schema)
    other_pool = await open_pool(other, wait=True)
    try:
        async with pool.connection() as holder, pool.connection() as second:
            async with holder.transaction():
                assert await _seq_of(holder, "held") == 1  # its transaction (and lock) stays open
                async with other_pool.connection() as elsewhere:
                    assert await asyncio.wait_for(_seq_of(elsewhere, "other schema"), 5) == 1
                waiting = asyncio.ensure_future(_seq_of(second, "same schema"))
                done, _ = await asyncio.wait({waiting}, timeout=0.5)
                assert not done, "an append of the same schema went ahead of an open one"
            assert await asyncio.wait_for(waiting, 5) == 2  # linked after the held one committed
        assert await verify(pool) == (2, None)
    finally:
        await other_pool.close()
        drop_schema(other)


async def test_an_append_under_another_lock_takes_the_seq_first_and_the_chain_stays_linear(
    pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica of the version before the lock was per schema (a rolling upgrade) appends under
    the old server-wide lock while one of this version appends: both commit, one after the
    other in the chain (the second was refused its `seq` by the primary key, and linked after)."""

    async with pool.connection() as old, pool.connection() as new:
        async with old.transaction():
            monkeypatch.setattr(
                audit_store, "_CHAIN_LOCK", "SELECT pg_advisory_xact_lock(1986070029)"
            )
            assert await _seq_of(old, "old replica") == 1  # holds seq 1, not yet committed
            monkeypatch.undo()
            racing = asyncio.ensure_future(_seq_of(new, "new replica"))
            done, _ = await asyncio.wait({racing}, timeout=0.5)
            assert not done  # its insert of seq 1 waits for the old one's transaction
        assert await asyncio.wait_for(racing, 5) == 2
    assert await verify(pool) == (2, None)
