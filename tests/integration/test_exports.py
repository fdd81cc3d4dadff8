"""Issue 16, acceptance 4, on the real stack: a tenant's events and tickets exported over HTTP
(JSON lines, CSV, tickets CSV), tenant-scoped and for admins only; the JSON lines imported into an
empty store whose rebuilt read models check with 0 differences; a second import refused."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis
from psycopg import sql

from core.settings import Settings
from eventstore.migrate import migrate
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from eventstore.values import Position
from exports.events import event_rows
from exports.importing import ImportRefused, import_file
from exports.rows import EVENT_FIELDS, TICKET_FIELDS
from projections.layout import Keys
from projections.rebuild import check, delete_all, rebuild
from tests.conftest import drop_schema, fresh_settings
from tests.integration.conftest import ApiClient

CONTACT = {"name": 'Zoë "Z", Ödön\nSecond line', "email": "zoe@example.org"}


async def _busy_tenant(api: ApiClient) -> list[str]:
    """Three queues with a few hundred events: joins, calls, services, cancels, a transfer."""
    queues = [await api.create_queue(prefix=p) for p in ("A", "B", "C")]
    for round_ in range(12):
        for queue_id in queues:
            for _ in range(3):
                await api.enqueue(queue_id, contact=CONTACT)
            called = await api.post(
                f"/v1/queues/{queue_id}/call-next", "staff", json={"counter": "1"}
            )
            assert called.status_code == 200, called.text
            ticket = called.json()["ticket"]["ticket_id"]
            for step in ("start", "complete") if round_ % 3 else ("no-show",):
                done = await api.post(f"/v1/tickets/{ticket}/{step}", "staff")
                assert done.status_code == 200, done.text
    waiting = (await api.enqueue(queues[0]))["ticket"]["ticket_id"]
    cancelled = await api.post(f"/v1/tickets/{waiting}/cancel", "staff", json={})
    assert cancelled.status_code == 200, cancelled.text
    moving = (await api.enqueue(queues[0]))["ticket"]["ticket_id"]
    moved = await api.post(
        f"/v1/tickets/{moving}/transfer", "staff", json={"to_queue_id": queues[1]}
    )
    assert moved.status_code == 200, moved.text
    return queues


def _stored_ids(settings: Settings, tenant_id: str) -> list[str]:
    """The tenant's event ids in the store's global order."""
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        query = sql.SQL(
            "SELECT event_id::text FROM {}.events WHERE tenant_id = %s "
            "ORDER BY transaction_id, global_position"
        ).format(sql.Identifier(settings.db_schema))
        return [row[0] for row in conn.execute(query, (tenant_id,))]


async def _get(api: ApiClient, path: str, role: str = "admin", **headers: str) -> Any:
    return await api.http.get(path, headers={**api.auth(role), **headers})


@pytest.fixture
async def empty_store(stack_env: dict[str, str]) -> AsyncIterator[Settings]:
    """A second, empty store (schema and Redis prefix of its own)."""
    target = fresh_settings(stack_env)
    migrate(target.pg_url, target.db_schema)
    yield target
    client = aioredis.Redis.from_url(target.redis_dsn)
    try:
        await delete_all(client, Keys(target.redis_prefix))
    finally:
        await client.aclose()
    drop_schema(target)


async def test_export_then_import_into_an_empty_store_checks_clean(
    api: ApiClient, settings: Settings, empty_store: Settings, tmp_path: Path
) -> None:
    queues = await _busy_tenant(api)
    other_queue = (
        await api.http.post(
            "/v1/queues",
            json={"name": "Bank", "counters": ["1"]},
            headers={"Authorization": f"Bearer {api.other_tenant_key}"},
        )
    ).json()["queue_id"]
    stored = _stored_ids(settings, api.tenant_id)
    assert len(stored) > 200

    answer = await _get(api, "/v1/export/events")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    assert answer.headers["content-disposition"].startswith("attachment;")
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert [line["event_id"] for line in lines] == stored  # each once, in the global order
    assert {line["tenant_id"] for line in lines} == {api.tenant_id}
    assert {line["queue_id"] for line in lines} == set(queues)
    assert other_queue not in answer.text
    assert all(list(line) == list(EVENT_FIELDS) for line in lines)

    as_csv = await _get(api, "/v1/export/events?format=csv")
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [row["event_id"] for row in rows] == stored
    assert [json.loads(row["payload"]) for row in rows] == [line["payload"] for line in lines]

    tickets = await _get(api, "/v1/export/tickets.csv")
    assert tickets.status_code == 200, tickets.text
    table = list(csv.DictReader(io.StringIO(tickets.text)))
    assert list(table[0]) == list(TICKET_FIELDS)
    assert len(table) == 12 * 3 * 3 + 2 + 1  # every ticket; the transferred one in both queues
    assert {row["status"] for row in table} >= {"served", "no_show", "cancelled", "transferred"}
    assert "Zoë" not in tickets.text and "zoe@example.org" not in tickets.text

    theirs = await api.http.get(
        "/v1/export/events", headers={"Authorization": f"Bearer {api.other_tenant_key}"}
    )
    assert theirs.status_code == 200
    assert {json.loads(line)["queue_id"] for line in theirs.text.splitlines()} == {other_queue}
    for path in ("/v1/export/events", "/v1/export/tickets.csv"):
        for role in ("staff", "viewer", "kiosk"):
            refused = await _get(api, path, role)
            assert refused.status_code == 403, (path, role)
            assert refused.headers["content-type"] == "application/problem+json"

    export = tmp_path / "export.jsonl"
    export.write_text(answer.text, encoding="utf-8")
    await _import_and_check(empty_store, export, len(stored), len(queues))
    assert _stored_ids(empty_store, api.tenant_id) == stored


async def _import_and_check(target: Settings, export: Path, events: int, queues: int) -> None:
    pool = await open_pool(target, wait=True)
    client = aioredis.Redis.from_url(target.redis_dsn)
    try:
        report = await import_file(pool, export, batch=50)  # small batches: several transactions
        assert (report.events, report.streams) == (events, queues)
        store, keys = PostgresEventStore(pool), Keys(target.redis_prefix)
        await rebuild(store, client, keys)
        checked = await check(store, client, keys)
        assert checked.queues == queues and checked.differences == []
        with pytest.raises(ImportRefused, match="empty store"):
            await import_file(pool, export)
        assert len(await store.read_all(Position.start(), 100_000)) == events
    finally:
        await client.aclose()
        await pool.close()


def test_the_command_line_says_when_there_is_no_event_store_to_export_or_import(
    tmp_path: Path,
) -> None:
    """An operator who runs it before `vq db migrate` (or on the wrong schema) is told so."""
    env = {**os.environ, "VQ_ENV": "dev", "VQ_DB_SCHEMA": f"nothing_{uuid.uuid4().hex[:8]}"}
    vq = str(Path(sys.executable).with_name("vq"))
    export = subprocess.run(
        [vq, "data", "export", "--tenant", str(uuid.uuid4())],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert export.returncode == 1 and "run `vq db migrate` first" in export.stderr, export.stderr
    assert "Traceback" not in export.stderr


async def test_an_export_holds_every_event_committed_before_it_whatever_else_is_writing(
    api: ApiClient, settings: Settings
) -> None:
    """A transaction left writing on the server (another tenant's import, another schema's) while
    this tenant's events commit: the export holds all of them at once (it held none: its horizon
    was that transaction), and none that commits after it started."""
    blocker = await psycopg.AsyncConnection.connect(settings.pg_url)
    try:
        await blocker.execute("SELECT pg_current_xact_id()")  # a writing transaction, left open
        queue = await api.create_queue()
        await api.enqueue(queue)
        answer = await _get(api, "/v1/export/events")
    finally:
        await blocker.close()
    assert answer.status_code == 200, answer.text
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert [line["event_type"] for line in lines] == ["QueueCreated", "TicketEnqueued"]

    pool = await open_pool(settings, wait=True)
    try:
        pages = event_rows(pool, api.tenant_id, page=1)
        first = await anext(pages)
        await api.enqueue(queue)  # commits after the export began
        rest = [rows async for rows in pages]
    finally:
        await pool.close()
    assert len(first) + sum(len(rows) for rows in rest) == 2
