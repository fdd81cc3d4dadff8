"""The stream workers: the derived positions topic, and a rebuild replayed from Kafka (refused
while a worker runs)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Any

import httpx
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from projections.layout import Keys
from projections.rebuild import check
from schemas import positions
from tests.integration.servers import api_servers, read_side, settings_env


async def _admin(store: PostgresEventStore, tenant_id: str) -> str:
    return (await TenantDirectory(store).create_key(tenant_id, "admin", "admin")).secret


async def _wait_version(
    client: aioredis.Redis, key: str, version: int, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        stored = await client.hget(key, "version")
        if stored is not None and int(stored) >= version:
            return
        assert time.monotonic() < deadline, f"read model stuck at {stored}, want {version}"
        await asyncio.sleep(0.1)


async def test_positions_topic_counts_a_ticket_down(
    settings: Settings, store: PostgresEventStore, tenant_id: str, topics: list[str]
) -> None:
    admin = await _admin(store, tenant_id)
    with api_servers(settings, 1) as urls, read_side(settings):
        async with httpx.AsyncClient(
            base_url=urls[0], timeout=30, headers={"Authorization": f"Bearer {admin}"}
        ) as http:
            # One counter calls four times: each call closes the previous visit (a no-show).
            body = {"name": "Pos", "busy_counter_policy": "close_previous"}
            queue = (await http.post("/v1/queues", json=body)).json()["queue_id"]
            tickets = [
                (await http.post(f"/v1/queues/{queue}/tickets", json={})).json() for _ in range(4)
            ]
            last = tickets[-1]["ticket"]["ticket_id"]
            # The joins folded apart from the calls (else one batch could hold them all, and a
            # ticket already called by the batch's end has no range to announce).
            joined = await http.get(
                f"/v1/tickets/{last}",
                params={"min_version": tickets[-1]["stream_version"], "wait": 30},
            )
            assert joined.status_code == 200, joined.text
            for _ in range(4):
                called = await http.post(f"/v1/queues/{queue}/call-next", json={"counter": "1"})
                assert called.status_code == 200
        consumer = AIOKafkaConsumer(
            settings.positions_topic,
            bootstrap_servers=settings.kafka_servers,
            auto_offset_reset="earliest",
            group_id=None,
        )
        await consumer.start()
        mine: list[tuple[str, int | None, str | None]] = []
        ranges: list[dict[str, Any]] = []
        try:
            deadline = time.monotonic() + 60
            while len(mine) < 5 and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    for record in records:
                        headers = dict(record.headers)
                        assert headers["ce_type"] == positions.TYPE.encode()
                        assert record.key is not None and record.value is not None
                        value = positions.decode(record.value)
                        assert record.key.decode() == value["ticket_id"]
                        if value["ticket_id"] == last:
                            mine.append((value["status"], value["position"], value["counter"]))
                            ranges.append(value)
                        # Version 2 only adds optional fields: a version 1 reader reads it.
                        old = positions.decode(record.value, reader_version=1)
                        assert "call_p50_at" not in old and old["ticket_id"] == value["ticket_id"]
        finally:
            await consumer.stop()
    # Enqueued 4th; each call ahead moves it up one; then it is called itself.
    assert mine == [
        ("waiting", 4, None),
        ("waiting", 3, None),
        ("waiting", 2, None),
        ("waiting", 1, None),
        ("called", None, "1"),
    ]
    # On joining, the wait range came along (the moments it should be called); once called, none.
    joined, called_msg = ranges[0], ranges[-1]
    assert joined["occurred_at"] <= joined["call_p10_at"] <= joined["call_p50_at"]
    assert joined["call_p50_at"] <= joined["call_p90_at"]
    assert joined["estimator"] in ("rules", "learned")
    assert called_msg["call_p50_at"] is None and called_msg["estimator"] is None


def _rebuild_from_kafka(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vq.cli", "projections", "rebuild", "--from-kafka"],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_rebuild_from_kafka_refuses_while_a_worker_runs_then_replays_the_topic(
    settings: Settings, store: PostgresEventStore, tenant_id: str, topics: list[str]
) -> None:
    admin = await _admin(store, tenant_id)
    keys = Keys(settings.redis_prefix)
    client = aioredis.Redis.from_url(settings.redis_dsn)
    try:
        with api_servers(settings, 1) as urls:
            async with httpx.AsyncClient(
                base_url=urls[0], timeout=30, headers={"Authorization": f"Bearer {admin}"}
            ) as http:
                body = {"name": "K", "busy_counter_policy": "close_previous"}
                queue = (await http.post("/v1/queues", json=body)).json()["queue_id"]
                for n in range(30):
                    await http.post(
                        f"/v1/queues/{queue}/tickets", json={"priority": ["normal", "vip"][n % 2]}
                    )
                for _ in range(10):
                    await http.post(f"/v1/queues/{queue}/call-next", json={"counter": "1"})
                version = (await store.stream_owner(queue))[1]  # type: ignore[index]
                with read_side(settings):
                    await _wait_version(client, keys.queue(tenant_id, queue), version)
                    # A worker in the group: refused in one line, and nothing deleted.
                    refused = _rebuild_from_kafka(settings)
                    assert refused.returncode == 2, refused.stdout + refused.stderr
                    said = refused.stderr.strip().splitlines()
                    assert len(said) == 1, refused.stderr
                    assert f"group {settings.worker_group} has 1 member" in said[0], said
                    assert "stop the workers (`vq worker`) first" in said[0], said
                    assert "`vq projections rebuild`" in said[0], said
                    assert "nothing was deleted" in said[0], said
                    assert (await http.get(f"/v1/queues/{queue}")).status_code == 200
                    untouched = await check(store, client, keys)
                    assert untouched.queues == 1 and untouched.differences == []
            # Workers stopped: wipe the read models and rewind the group to the topic's start.
            rewind = _rebuild_from_kafka(settings)
            assert rewind.returncode == 0, rewind.stderr
            assert await client.hget(keys.queue(tenant_id, queue), "version") is None
            with read_side(settings):
                await _wait_version(client, keys.queue(tenant_id, queue), version)
        report = await check(store, client, keys)
        assert report.queues == 1 and report.differences == []
    finally:
        await client.aclose()
