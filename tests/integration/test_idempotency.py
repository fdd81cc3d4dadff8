"""A retried command returns its first answer byte for byte: for commands the current code
answered, and for commands answered by the code before idempotency rows kept outcomes (a store
written by that code, migrated by `0006_idempotency_outcomes.sql`)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from core.settings import Settings
from eventstore.migrate import migrate
from tests.integration.conftest import ApiClient
from vq.api import create_app

FIXTURE = Path(__file__).parent / "fixtures" / "idempotency_v0005.json"
# In the order their foreign keys need.
_TABLE_ORDER = (
    "tenants",
    "api_keys",
    "streams",
    "events",
    "tickets",
    "idempotency_keys",
    "snapshots",
)


def _value(value: Any) -> Any:
    if isinstance(value, dict) and "$bytes" in value:
        return base64.b64decode(value["$bytes"])
    if isinstance(value, dict) and "$time" in value:
        return datetime.fromisoformat(value["$time"])
    if isinstance(value, dict) and "$json" in value:
        return json.dumps(value["$json"])
    return value


@pytest.fixture
def old_store(stack_env: dict[str, str]) -> Iterator[tuple[Settings, dict[str, Any]]]:
    """A fresh schema at migration 0005 holding the rows the old code wrote, then migrated."""
    fixture = json.loads(FIXTURE.read_text())
    settings = Settings(
        database_url=stack_env["VQ_DATABASE_URL"],
        redis_url=stack_env["VQ_REDIS_URL"],
        kafka_bootstrap=stack_env["VQ_KAFKA_BOOTSTRAP"],
        db_schema=f"test_old_{uuid.uuid4().hex[:12]}",
        redis_prefix=f"test:{uuid.uuid4().hex[:12]}",
        token_secret=fixture["token_secret"],
    )
    applied = migrate(settings.pg_url, settings.db_schema, up_to=fixture["migrated_to"])
    assert [m.version for m in applied] == list(range(1, fixture["migrated_to"] + 1))
    # The schema on the search path: the store's triggers name its tables unqualified.
    with (
        psycopg.connect(
            settings.pg_url, autocommit=True, options=f"-c search_path={settings.db_schema}"
        ) as conn,
        conn.transaction(),
    ):
        schema = sql.Identifier(settings.db_schema)
        for table in _TABLE_ORDER:
            for row in fixture["rows"][table]:
                columns = list(row)
                conn.execute(
                    sql.SQL("INSERT INTO {}.{} ({}) VALUES ({})").format(
                        schema,
                        sql.Identifier(table),
                        sql.SQL(", ").join(map(sql.Identifier, columns)),
                        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                    ),
                    [_value(row[c]) for c in columns],
                )
    # 0006 turns the old rows into outcomes (later migrations touch other tables).
    assert next(m.name for m in migrate(settings.pg_url, settings.db_schema)) == (
        "idempotency_outcomes"
    )
    yield settings, fixture
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(settings.db_schema)))


async def test_retries_of_commands_the_old_code_answered_get_its_answers_byte_for_byte(
    old_store: tuple[Settings, dict[str, Any]],
) -> None:
    settings, fixture = old_store
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vq.test") as http:
            kinds = set()
            for exchange in fixture["exchanges"]:
                headers = {
                    "Authorization": f"Bearer {fixture['admin_key']}",
                    "Idempotency-Key": exchange["idempotency_key"],
                }
                body = exchange["body"]
                if body is not None:
                    headers["Content-Type"] = "application/json"
                retry = await http.request(
                    exchange["method"],
                    exchange["path"],
                    headers=headers,
                    content=None if body is None else body.encode(),
                )
                where = (exchange["method"], exchange["path"])
                assert retry.status_code == exchange["status"], (where, retry.text)
                assert retry.content == exchange["answer"].encode(), where
                assert retry.headers["idempotent-replayed"] == "true", where
                assert retry.headers.get("location") == exchange["location"], where
                kinds.add(exchange["path"].rsplit("/", 1)[-1])
    # Every kind of command the old code stored: creation, settings, enqueue, the ticket's
    # whole life, a transfer, the queue's lifecycle.
    assert len(fixture["exchanges"]) == 20 and {"transfer", "call-next", "complete"} <= kinds


async def test_a_retry_gets_the_first_answer_byte_for_byte(api: ApiClient) -> None:
    queue_id = await api.create_queue()
    target = await api.create_queue(name="Cashier")
    requests: list[tuple[str, dict[str, Any] | None]] = [
        (f"/v1/queues/{queue_id}/tickets", {"priority": "vip"}),
        (f"/v1/queues/{queue_id}/tickets", None),
        (f"/v1/queues/{queue_id}/call-next", {"counter": "1"}),
    ]
    firsts = []
    for n, (path, body) in enumerate(requests):
        headers = {"Idempotency-Key": f"first-{n}"}
        first = await api.post(path, headers=headers, json=body)
        again = await api.post(path, headers=headers, json=body)
        assert first.status_code in (200, 201), first.text
        assert (again.status_code, again.content) == (first.status_code, first.content)
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers.get("location") == first.headers.get("location")
        firsts.append(first.json())
    ticket = firsts[1]["ticket"]["ticket_id"]
    for path in (f"/v1/tickets/{ticket}/transfer",):
        body = {"to_queue_id": target}
        first = await api.post(path, headers={"Idempotency-Key": "move"}, json=body)
        again = await api.post(path, headers={"Idempotency-Key": "move"}, json=body)
        assert first.status_code == 200, first.text
        assert again.content == first.content
        assert first.json()["target"]["queue_id"] == target
