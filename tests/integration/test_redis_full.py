"""A Redis that is full (maxmemory, `noeviction`) while the API serves: a read of a queue is a
503 problem with Retry-After (Redis refuses every command queued in a MULTI, and the read of a
queue is one), logged in one line, no traceback; `/readyz` is a 503 naming redis and
`vq_up{part="redis"}` is 0 (readiness writes a key, and a full Redis refuses it); once Redis
has room again, both are as before. The Redis is the test's own (a `redis-server` on a free
port, as in test_readiness.py): the shared one is never made full.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from query_api.deps import MAX_WAIT_S
from tests.integration.servers import api_processes, free_port, read_side
from tests.integration.test_readiness import own_redis, until

FILLER_BYTES = 2 * 1024 * 1024  # more than the 1 MB the Redis is then allowed

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


async def test_a_full_redis_is_a_503_and_unready_until_it_has_room(
    settings: Settings,
    topics: list[str],
    store: PostgresEventStore,
    tenant_id: str,
    tmp_path: Path,
) -> None:
    key = (await TenantDirectory(store).create_key(tenant_id, "admin", "admin")).secret
    port = free_port()
    mine = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"})
    auth = {"Authorization": f"Bearer {key}"}
    with (
        own_redis(tmp_path, port),
        read_side(mine),
        api_processes(mine, [1]) as [api],
    ):
        async with (
            httpx.AsyncClient(base_url=api.url, headers=auth, timeout=10) as http,
            aioredis.Redis(port=port) as redis,
        ):
            queue = await _projected_queue(http)
            assert (await until(api.url, 200)).status_code == 200

            await redis.set("filler", b"x" * FILLER_BYTES)
            await redis.config_set("maxmemory-policy", "noeviction")
            await redis.config_set("maxmemory", "1mb")
            full = await http.get(f"/v1/queues/{queue}")
            assert full.status_code == 503, full.text
            assert full.headers["content-type"] == "application/problem+json"
            assert int(full.headers["retry-after"]) > 0
            assert full.json()["type"] == "/problems/service-unavailable"
            unready = await until(api.url, 503)
            assert unready.status_code == 503, unready.text
            assert "redis" in unready.json()["failing"], unready.text
            assert unready.json()["checks"]["redis"]["error"] == "unavailable"
            assert 'vq_up{part="redis"} 0.0' in (await http.get("/metrics")).text

            await redis.config_set("maxmemory", "0")
            assert (await until(api.url, 200)).status_code == 200
            again = await http.get(f"/v1/queues/{queue}")
            assert again.status_code == 200, again.text
            assert 'vq_up{part="redis"} 1.0' in (await http.get("/metrics")).text
        logged = api.logged()
        assert "Traceback" not in logged, logged[-4000:]
        assert "503 for /v1/queues/" in logged, logged[-4000:]


async def _projected_queue(http: httpx.AsyncClient) -> str:
    """A new queue, once the workers have put it in the read model."""
    made = await http.post("/v1/queues", json={"name": "Full", "counters": ["1"]})
    assert made.status_code == 201, made.text
    queue = str(made.json()["queue_id"])
    version = made.json().get("stream_version", 1)
    read = await http.get(
        f"/v1/queues/{queue}", params={"min_version": version, "wait": MAX_WAIT_S}
    )
    assert read.status_code == 200, read.text
    return queue
