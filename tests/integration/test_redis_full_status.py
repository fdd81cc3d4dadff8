"""A Redis that is full (maxmemory, `noeviction`) holds the stream workers back: they cannot write
the read models, so the views stop changing while the queue does. A live follower is told so
(`event: status` `delayed`), as when a worker stops, and `current` once Redis has room again.
The Redis is the test's own (a `redis-server` on a free port): the shared one is never made full.
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
from tests.integration.servers import api_processes, free_port, read_side
from tests.integration.test_live_read_side import _events, _until
from tests.integration.test_live_stream import _follow
from tests.integration.test_readiness import own_redis
from tests.integration.test_redis_full import FILLER_BYTES, _projected_queue

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


async def test_a_full_redis_is_said_on_the_live_stream_as_a_delay(
    settings: Settings, topics: list[str], store: PostgresEventStore, tmp_path: Path
) -> None:
    port = free_port()
    mine = settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{port}/0", "read_side_stall_s": 4.0}
    )
    _, admin = await TenantDirectory(store).create_tenant("Clinic")
    auth = {"Authorization": f"Bearer {admin.secret}"}
    with own_redis(tmp_path, port), read_side(mine), api_processes(mine, [1]) as [api]:
        async with (
            httpx.AsyncClient(base_url=api.url, headers=auth, timeout=20) as http,
            aioredis.Redis(port=port) as redis,
        ):
            queue = await _projected_queue(http)
            stream = await _follow(
                api.url.removeprefix("http://"), f"/v1/queues/{queue}/events", admin.secret
            )
            try:
                first = _events(await _until(stream, b"event: queue"))
                assert [kind for kind, _ in first] == ["queue"]
                await redis.set("filler", b"x" * FILLER_BYTES)
                await redis.config_set("maxmemory-policy", "noeviction")
                await redis.config_set("maxmemory", "1mb")
                joined = await http.post(f"/v1/queues/{queue}/tickets", json={})
                assert joined.status_code == 201, joined.text  # PostgreSQL has it
                delayed = _events(await _until(stream, b"event: status"))
                await redis.config_set("maxmemory", "0")
                back = _events(await _until(stream, b'"read_side": "current"'))
            finally:
                stream.close()
    assert [kind for kind, _ in delayed] == ["status"]  # and no view meanwhile
    assert delayed[0][1]["read_side"] == "delayed"
    assert [data["waiting"] for kind, data in back if kind == "queue"] == [1]
    assert back[-1] == ("status", {"read_side": "current"})
