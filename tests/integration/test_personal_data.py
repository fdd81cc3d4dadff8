"""Issue 16, acceptance 3, on the real stack: a person's details are sealed under a key of their
own; before erasure the person's export has them; after it, no query, topic record (read again
from the start), export or log line shows them, and the fold is the same, snapshot for snapshot.
Also: the person erasing their own ticket with its token, another tenant's ticket a 404, and
staff without the permission refused."""

from __future__ import annotations

import json
import logging
import random
import uuid
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer
from psycopg import sql

from core.settings import Settings
from domain.snapshot import to_snapshot
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from projections.layout import Keys
from projections.rebuild import check, fold_store
from tests.integration.conftest import ApiClient
from tests.integration.servers import read_side

STARTUP_WAIT_S = 30


def _person(tag: str) -> dict[str, str]:
    marker = uuid.uuid4().hex[:10]
    digits = "".join(random.choice("0123456789") for _ in range(7))
    return {
        "name": f"{tag} Quintero-{marker}",
        "phone": f"+34 6{digits[:2]} {digits[2:4]} {digits[4:]}",
        "email": f"{tag.lower()}.{marker}@example.org",
        "note": f"needs a chair {marker}",
    }


def _traces(person: dict[str, str]) -> list[str]:
    """What would give the person away: each detail, the phone's digits too."""
    digits = "".join(c for c in person["phone"] if c.isdigit())
    return [person["name"], person["email"], person["note"], digits, person["phone"]]


def _assert_absent(person: dict[str, str], text: str, where: str) -> None:
    for trace in _traces(person):
        assert trace not in text, f"{where} shows {trace!r}"
        assert trace.lower() not in text.lower(), f"{where} shows {trace!r}"


def _stored(settings: Settings, tenant_id: str) -> str:
    """Every row the test's schema holds of events, snapshots and the ticket index, as text."""
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        rows = []
        for table in ("events", "snapshots", "tickets", "idempotency_keys"):
            query = sql.SQL("SELECT t::text FROM {}.{} t").format(
                sql.Identifier(settings.db_schema), sql.Identifier(table)
            )
            rows += [row[0] for row in conn.execute(query)]
    assert tenant_id in "\n".join(rows)
    return "\n".join(rows)


async def _topic_bytes(settings: Settings, at_least: int) -> bytes:
    """Every record of the events topic, from the start (as any replaying consumer reads it)."""
    consumer = AIOKafkaConsumer(
        settings.events_topic,
        bootstrap_servers=settings.kafka_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    seen: list[bytes] = []
    try:
        for _ in range(300):
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    seen.append((r.value or b"") + b"".join(v for _, v in r.headers))
            if len(seen) >= at_least:
                break
    finally:
        await consumer.stop()
    assert len(seen) >= at_least, f"only {len(seen)} records on the topic"
    return b"\n".join(seen)


async def _folded(settings: Settings, queues: set[str]) -> dict[str, Any]:
    pool = await open_pool(settings, wait=True)
    try:
        folded = await fold_store(PostgresEventStore(pool), queues)
    finally:
        await pool.close()
    return {queue: to_snapshot(entry.state) for queue, entry in folded.items()}


async def _checked(settings: Settings, queues: set[str]) -> list[str]:
    pool = await open_pool(settings, wait=True)
    client = aioredis.Redis.from_url(settings.redis_dsn)
    try:
        report = await check(PostgresEventStore(pool), client, Keys(settings.redis_prefix), queues)
    finally:
        await client.aclose()
        await pool.close()
    return list(report.differences)


async def _person_data(api: ApiClient, **body: str) -> list[dict[str, Any]]:
    answer = await api.post("/v1/personal-data/export", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return list(answer.json()["tickets"])


async def _waiting(api: ApiClient, queue_id: str, version: int) -> list[tuple[Any, ...]]:
    """The line: who stands where, with which number and class (not the estimates, which
    move with the clock)."""
    page = await api.http.get(
        f"/v1/queues/{queue_id}/waiting",
        headers=api.auth("admin"),
        params={"min_version": version, "wait": STARTUP_WAIT_S, "limit": 500},
    )
    assert page.status_code == 200, page.text
    fields = ("ticket_id", "number", "position", "priority", "status")
    return [tuple(t[f] for f in fields) for t in page.json()["tickets"]]


async def test_erasure_leaves_no_trace_and_the_fold_unchanged(
    settings: Settings, topics: list[str], api: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ana, bob = _person("Ana"), _person("Bob")
    desk, lab = await api.create_queue(prefix="D"), await api.create_queue(prefix="L")
    with read_side(settings) as workers:
        notify = [{"channel": "email", "address": ana["email"]}]
        first = await api.enqueue(desk, contact=ana, notify=notify)
        again = {**ana, "email": ana["email"].upper()}  # her second visit, spelt otherwise
        second = await api.enqueue(lab, contact=again)
        bobs = await api.enqueue(desk, contact={"name": bob["name"], "email": bob["email"]})
        await api.enqueue(desk)
        ana_ticket = first["ticket"]["ticket_id"]
        moved = await api.post(
            f"/v1/tickets/{ana_ticket}/transfer", "staff", json={"to_queue_id": lab}
        )
        assert moved.status_code == 200, moved.text
        answer = moved.json()
        versions = {desk: answer["stream_version"], lab: answer["target"]["stream_version"]}

        # Nothing in the clear, ever: the store, the topic.
        _assert_absent(ana, _stored(settings, api.tenant_id), "the event store")
        await _waiting(api, lab, versions[lab])
        _assert_absent(ana, (await _topic_bytes(settings, 8)).decode("latin-1"), "the topic")

        # Before erasure the person's export has it: both visits, by e-mail (any case).
        held = await _person_data(api, email=ana["email"].title())
        assert sorted(t["ticket_id"] for t in held) == sorted(
            [ana_ticket, second["ticket"]["ticket_id"]]
        )
        by_ticket = {t["ticket_id"]: t for t in held}
        assert by_ticket[ana_ticket]["details"] == ana
        assert by_ticket[ana_ticket]["queue_id"] == lab  # where it is now
        assert [s["address"] for s in by_ticket[ana_ticket]["subscriptions"]] == [ana["email"]]
        token = first["ticket"]["token"]
        own = await api.http.get(
            f"/v1/tickets/{ana_ticket}/personal-data", headers={"X-Ticket-Token": token}
        )
        assert own.status_code == 200 and own.json()["tickets"][0]["details"] == ana

        lines = {q: await _waiting(api, q, versions[q]) for q in (desk, lab)}
        fold_before = await _folded(settings, {desk, lab})

        # Erasure, found by her phone number written another way.
        erased = await api.post(
            "/v1/personal-data/erase", json={"phone": ana["phone"].replace(" ", "-")}
        )
        assert erased.status_code == 200, erased.text
        assert sorted(erased.json()["keys_destroyed"]) == sorted(by_ticket)
        assert erased.json()["subscriptions_removed"] == 1
        twice = await api.post("/v1/personal-data/erase", json={"ticket_id": ana_ticket})
        assert twice.status_code == 200 and twice.json()["keys_destroyed"] == []

        # After: the fold is the same, the read models check, nothing shows her.
        assert await _folded(settings, {desk, lab}) == fold_before
        assert await _checked(settings, {desk, lab}) == []
        for queue_id, line in lines.items():
            assert await _waiting(api, queue_id, versions[queue_id]) == line
        assert await _person_data(api, email=ana["email"]) == []
        gone = await _person_data(api, ticket_id=ana_ticket)
        assert gone[0]["details"] is None and gone[0]["details_erased_at"] is not None
        assert gone[0]["subscriptions"] == []
        own = await api.http.get(
            f"/v1/tickets/{ana_ticket}/personal-data", headers={"X-Ticket-Token": token}
        )
        assert own.status_code == 200 and own.json()["tickets"][0]["details"] is None
        shown = []
        for path in (
            "/v1/export/events",
            "/v1/export/events?format=csv",
            "/v1/export/tickets.csv",
            f"/v1/tickets/{ana_ticket}",
            f"/v1/queues/{lab}/waiting",
            "/v1/audit",
        ):
            answer = await api.http.get(path, headers=api.auth("admin"))
            assert answer.status_code == 200, f"{path}: {answer.text}"
            shown.append(answer.text)
        _assert_absent(ana, "\n".join(shown), "an answer")
        assert "personal-data.erased" in shown[-1]
        # Staff looking her up and the exports are in the audit trail (newest first), her
        # address never (above); her own look with her ticket's token is not.
        trail = json.loads(shown[-1])["entries"]
        looked = [e for e in trail if e["action"] == "personal-data.exported"]
        assert [(e["detail"], set((e["subject"] or "").split(","))) for e in looked] == [
            ({"found_by": "ticket", "tickets": 1}, {ana_ticket}),
            ({"found_by": "email", "tickets": 0}, {""}),
            ({"found_by": "email", "tickets": 2}, set(by_ticket)),
        ]
        exported = [(e["action"], e["detail"]) for e in trail if e["action"].startswith("export.")]
        assert exported == [
            ("export.tickets", {"format": "csv"}),
            ("export.events", {"format": "csv"}),
            ("export.events", {"format": "jsonl"}),
        ]
        assert not [e for e in trail if e["actor"].startswith("ticket:")]
        _assert_absent(ana, (await _topic_bytes(settings, 8)).decode("latin-1"), "the topic")
        _assert_absent(ana, _stored(settings, api.tenant_id), "the event store")

        # Bob is untouched: his details still open.
        (bob_held,) = await _person_data(api, email=bob["email"])
        assert bob_held["ticket_id"] == bobs["ticket"]["ticket_id"]
        assert bob_held["details"]["name"] == bob["name"]
        worker_log = workers[0].stop()
    _assert_absent(ana, worker_log, "the worker's log")
    _assert_absent(bob, worker_log, "the worker's log")
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    _assert_absent(ana, logged, "the API's log")
    _assert_absent(bob, logged, "the API's log")


async def test_the_person_erases_their_own_ticket_with_its_token(api: ApiClient) -> None:
    queue = await api.create_queue()
    ana = _person("Ana")
    taken = await api.enqueue(queue, contact=ana)
    ticket, token = taken["ticket"]["ticket_id"], taken["ticket"]["token"]
    path = f"/v1/tickets/{ticket}/personal-data"

    assert (await api.http.delete(path, headers={"X-Ticket-Token": "nope"})).status_code == 401
    other = await api.http.get(path, headers={"Authorization": f"Bearer {api.other_tenant_key}"})
    assert other.status_code == 404
    staff = await api.http.get(path, headers=api.auth("staff"))
    assert staff.status_code == 403
    refused = await api.post("/v1/personal-data/export", "staff", json={"ticket_id": ticket})
    assert refused.status_code == 403

    done = await api.http.delete(path, headers={"X-Ticket-Token": token})
    assert done.status_code == 200, done.text
    assert done.json()["keys_destroyed"] == [ticket]
    (after,) = (await api.http.get(path, headers=api.auth("admin"))).json()["tickets"]
    assert after["details"] is None and after["details_erased_at"] is not None
    # The ticket itself goes on: it can still be called and served.
    called = await api.post(f"/v1/queues/{queue}/call-next", "staff", json={"counter": "1"})
    assert called.status_code == 200 and called.json()["ticket"]["ticket_id"] == ticket


async def test_a_refused_enqueue_keeps_no_key(api: ApiClient, settings: Settings) -> None:
    queue = await api.create_queue(capacity=1)
    await api.enqueue(queue)
    ana = _person("Ana")
    full = await api.post(f"/v1/queues/{queue}/tickets", json={"contact": ana})
    assert full.status_code == 409, full.text
    assert await _person_data(api, email=ana["email"]) == []
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        query = sql.SQL("SELECT count(*) FROM {}.personal_keys WHERE tenant_id = %s").format(
            sql.Identifier(settings.db_schema)
        )
        assert conn.execute(query, (api.tenant_id,)).fetchone() == (0,)
