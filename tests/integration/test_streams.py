"""The stream workers: the derived positions topic, and a rebuild replayed from Kafka."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer

from eventstore.store import EventStore
from eventstore.tenants import TenantDirectory
from projections.layout import Keys
from projections.rebuild import check
from schemas import positions
from tests.integration.servers import api_servers, read_side, settings_env
from vq.settings import Settings


async def _admin(store: EventStore, tenant_id: str) -> str:
    return (await TenantDirectory(store).create_key(tenant_id, "admin", "admin")).secret


async def _wait_version(client: aioredis.Redis, key: str, version: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        stored = await client.hget(key, "version")
        if stored is not None and int(stored) >= version:
            return
        assert time.monotonic() < deadline, f"read model stuck at {stored}, want {version}"
        await asyncio.sleep(0.1)


async def test_positions_topic_counts_a_ticket_down(
    settings: Settings, store: EventStore, tenant_id: str, topics: list[str]
) -> None:
    admin = await _admin(store, tenant_id)
    with api_servers(settings, 1) as urls, read_side(settings):
        async with httpx.AsyncClient(base_url=urls[0], timeout=30,
                                     headers={"Authorization": f"Bearer {admin}"}) as http:
            queue = (await http.post("/v1/queues", json={"name": "Pos"})).json()["queue_id"]
            tickets = [(await http.post(f"/v1/queues/{queue}/tickets", json={})).json()
                       for _ in range(4)]
            last = tickets[-1]["ticket"]["ticket_id"]
            for _ in range(4):
                called = await http.post(f"/v1/queues/{queue}/call-next", json={"counter": "1"})
                assert called.status_code == 200
        consumer = AIOKafkaConsumer(settings.positions_topic,
                                    bootstrap_servers=settings.kafka_servers,
                                    auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        mine: list[tuple[str, int | None, str | None]] = []
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
        finally:
            await consumer.stop()
    # Enqueued 4th; each call ahead moves it up one; then it is called itself.
    assert mine == [("waiting", 4, None), ("waiting", 3, None), ("waiting", 2, None),
                    ("waiting", 1, None), ("called", None, "1")]


async def test_rebuild_from_kafka_replays_the_topic(
    settings: Settings, store: EventStore, tenant_id: str, topics: list[str]
) -> None:
    admin = await _admin(store, tenant_id)
    keys = Keys(settings.redis_prefix)
    client = aioredis.Redis.from_url(settings.redis_dsn)
    try:
        with api_servers(settings, 1) as urls:
            async with httpx.AsyncClient(base_url=urls[0], timeout=30,
                                         headers={"Authorization": f"Bearer {admin}"}) as http:
                queue = (await http.post("/v1/queues", json={"name": "K"})).json()["queue_id"]
                for n in range(30):
                    await http.post(f"/v1/queues/{queue}/tickets",
                                    json={"priority": ["normal", "vip"][n % 2]})
                for _ in range(10):
                    await http.post(f"/v1/queues/{queue}/call-next", json={"counter": "1"})
            version = (await store.stream_owner(queue))[1]  # type: ignore[index]
            with read_side(settings):
                await _wait_version(client, keys.queue(tenant_id, queue), version)
            # Workers stopped: wipe the read models and rewind the group to the topic's start.
            rewind = subprocess.run(
                [sys.executable, "-m", "vq.cli", "projections", "rebuild", "--from-kafka"],
                env=settings_env(settings), capture_output=True, text=True, timeout=120)
            assert rewind.returncode == 0, rewind.stderr
            assert await client.hget(keys.queue(tenant_id, queue), "version") is None
            with read_side(settings):
                await _wait_version(client, keys.queue(tenant_id, queue), version)
        report = await check(store, client, keys)
        assert report.queues == 1 and report.differences == []
    finally:
        await client.aclose()
