"""A commit announces itself (NOTIFY, for the relay to wake) on its schema's own channel: NOTIFY
channels are the whole database's, and two deployments in one database (VQ_DB_SCHEMA) used to
wake each other's relay at every commit (migration 0025)."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import psycopg
from psycopg import sql

from core.settings import Settings
from eventstore.append import NOTIFY_CHANNEL_SQL
from eventstore.migrate import migrate
from eventstore.pool import connect
from eventstore.postgres import PostgresEventStore
from tests.conftest import drop_schema, fresh_settings
from tests.integration.test_eventstore import append, created


async def _listening(settings: Settings) -> tuple[psycopg.AsyncConnection[Any], str]:
    conn = await connect(settings)
    named = await (await conn.execute(NOTIFY_CHANNEL_SQL)).fetchone()
    assert named is not None
    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(named[0])))
    return conn, named[0]


async def test_a_commit_wakes_its_own_schemas_relay_only(
    settings: Settings, store: PostgresEventStore, tenant_id: str, stack_env: dict[str, str]
) -> None:
    other = fresh_settings(stack_env)
    migrate(other.pg_url, other.db_schema)
    async with contextlib.AsyncExitStack() as closing:
        closing.callback(drop_schema, other)
        mine, my_channel = await _listening(settings)
        closing.push_async_callback(mine.close)
        theirs, their_channel = await _listening(other)
        closing.push_async_callback(theirs.close)
        everyone = await connect(settings)
        closing.push_async_callback(everyone.close)
        await everyone.execute("LISTEN vq_events")  # the one channel of before
        assert my_channel != their_channel and my_channel.startswith("vq_events_")
        queue_id = str(uuid.uuid4())
        await append(store, queue_id, tenant_id, 0, [created(queue_id, tenant_id)])
        heard = [note async for note in mine.notifies(timeout=10, stop_after=1)]
        assert [note.channel for note in heard] == [my_channel]
        assert int(heard[0].payload) > 0  # the transaction that committed (0019)
        assert [note async for note in theirs.notifies(timeout=1)] == []
        assert [note async for note in everyone.notifies(timeout=0.2)] == []
