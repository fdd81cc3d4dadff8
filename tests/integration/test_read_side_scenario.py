"""3,000 random commands over 50 queues while stream workers are killed: the read models end
exactly equal to a fresh fold of the event store, and a wiped Redis is rebuilt key for key."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import redis.asyncio as aioredis

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from projections.layout import Keys
from projections.parallel import rebuild_in_parallel
from projections.rebuild import check, delete_all, rebuild
from tests.integration.servers import Process, api_servers, read_side
from tests.scenarios.random_commands import RandomCommands

QUEUES = 50
COMMANDS = 3_000


async def _caught_up(
    store: PostgresEventStore,
    client: aioredis.Redis,
    keys: Keys,
    tenant: str,
    queues: list[str],
    timeout: float = 180,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        behind = 0
        for queue_id in queues:
            owner = await store.stream_owner(queue_id)
            stored = await client.hget(keys.queue(tenant, queue_id), "version")
            if owner is None or stored is None or int(stored) < owner[1]:
                behind += 1
        if behind == 0:
            return
        assert time.monotonic() < deadline, f"{behind} queues still behind in Redis"
        await asyncio.sleep(0.5)


async def _dump(client: aioredis.Redis, keys: Keys) -> dict[str, Any]:
    """Every key and value; of the wait ranges (`:eta`, recomputed when a batch is cut), the
    tickets that have one. Not the recent batches kept for live followers' replay (`:recent`):
    a history of how the events were cut into batches, which a rebuild does not remake."""
    found: dict[str, Any] = {}
    async for key in client.scan_iter(match=keys.all_keys(), count=1000):
        if key.endswith(b":recent"):
            continue
        kind = (await client.type(key)).decode()
        if kind == "hash" and key.endswith(b":eta"):
            found[key] = set(await client.hkeys(key))
        elif kind == "hash":
            found[key] = await client.hgetall(key)
        elif kind == "zset":
            found[key] = await client.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            found[key] = await client.smembers(key)
        elif kind == "list":
            found[key] = await client.lrange(key, 0, -1)
        else:
            found[key] = await client.get(key)
    return found


async def test_random_commands_with_worker_crashes_then_wipe_and_rebuild(
    settings: Settings, store: PostgresEventStore, tenant_id: str, topics: list[str]
) -> None:
    keys = Keys(settings.redis_prefix)
    admin = (await TenantDirectory(store).create_key(tenant_id, "admin", "admin")).secret
    client = aioredis.Redis.from_url(settings.redis_dsn)
    extra: list[Process] = []
    try:
        with api_servers(settings, 1) as urls, read_side(settings, workers=2) as workers:
            async with httpx.AsyncClient(
                base_url=urls[0], timeout=30, headers={"Authorization": f"Bearer {admin}"}
            ) as http:
                queues = []
                for n in range(QUEUES):
                    created = await http.post(
                        "/v1/queues",
                        json={"name": f"Desk {n}", "prefix": f"Q{n}", "counters": ["1", "2", "3"]},
                    )
                    assert created.status_code == 201, created.text
                    queues.append(created.json()["queue_id"])

                async def crash(done: int) -> None:
                    if done == COMMANDS // 3:  # two workers share the group; one dies hard
                        workers[0].kill()
                    elif done == 2 * COMMANDS // 3:  # the survivor dies too; a fresh one takes over
                        workers[1].kill()
                        extra.append(Process(settings, "worker", "--loglevel", "warning"))

                script = RandomCommands(http, queues, seed=20261122)
                outcome = await script.run(COMMANDS, on_progress=crash)
            assert outcome.retried <= 3, f"{outcome.retried} connections lost"
            assert sum(outcome.sent.values()) >= COMMANDS
            assert set(outcome.sent) >= {
                "enqueue",
                "call-next",
                "start",
                "complete",
                "no-show",
                "return",
                "recall",
                "cancel",
                "priority",
                "call",
                "transfer",
                "pause",
                "resume",
                "close",
                "open",
                "patch",
            }
            assert outcome.statuses[200] + outcome.statuses[201] > COMMANDS // 2
            await _caught_up(store, client, keys, tenant_id, queues)
            for process in extra:
                process.stop()

        report = await check(store, client, keys)
        assert report.queues == QUEUES
        assert report.differences == []
        for queue_id in queues:  # every line's positions are exactly 1..n
            line = await client.zrange(keys.line(tenant_id, queue_id), 0, -1)
            ranks = [await client.zrank(keys.line(tenant_id, queue_id), m) for m in line]
            assert ranks == list(range(len(line)))

        before = await _dump(client, keys)
        await delete_all(client, keys)  # what FLUSHALL does to our keys
        assert await _dump(client, keys) == {}
        rebuilt = await rebuild(store, client, keys)
        assert rebuilt.queues == QUEUES
        assert (await check(store, client, keys)).differences == []
        after = await _dump(client, keys)
        assert after == before
        # The same, split over two processes (each folds and writes the queues of its share).
        split = await rebuild_in_parallel(settings, 2)
        assert (split.queues, split.events) == (rebuilt.queues, rebuilt.events)
        assert await _dump(client, keys) == before
        # Estimates and their accuracy are part of it, not vacuously: every queue has figures,
        # and tickets were estimated at enqueue and measured when called.
        accuracy = [json.loads(v) for k, v in after.items() if k.endswith(b":accuracy")]
        assert len(accuracy) == QUEUES
        served = [f for a in accuracy for f in a["estimators"] if f["estimator"] == "served"]
        assert sum(f["called"] for f in served) > 100
    finally:
        for process in extra:
            process.stop()
        await client.aclose()
