"""A Redis that is full (maxmemory, `noeviction`) while the API serves: a read of a queue is a
503 problem with Retry-After (Redis refuses every command queued in a MULTI, and the read of a
queue is one), logged in one line, no traceback; `/readyz` is a 503 naming redis and
`vq_up{part="redis"}` is 0 (readiness writes a key, and a full Redis refuses it); once Redis
has room again, both are as before. Every other read the document lists answers too while it
is full, never a 500 (a 503 with Retry-After where Redis was needed), and a kiosk and a desk go
on: taking a ticket and calling the next need only PostgreSQL. The Redis is the test's own (a `redis-server` on a free port, as in
test_readiness.py): the shared one is never made full.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from typing import Any

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
            ticket = (await http.post(f"/v1/queues/{queue}/tickets", json={})).json()["ticket"][
                "ticket_id"
            ]
            document = (await http.get("/openapi.json")).json()
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
            answers = await _every_read_and_a_desk(http, document, queue, ticket)
            crashed = {what: status for what, status in answers.items() if status == 500}
            assert not crashed, crashed
            # The write side does not need Redis: a kiosk and a desk go on.
            assert answers[f"POST /v1/queues/{queue}/tickets"] == 201, answers
            assert answers[f"POST /v1/queues/{queue}/call-next"] == 200, answers

            await redis.config_set("maxmemory", "0")
            assert (await until(api.url, 200)).status_code == 200
            again = await http.get(f"/v1/queues/{queue}")
            assert again.status_code == 200, again.text
            assert 'vq_up{part="redis"} 1.0' in (await http.get("/metrics")).text
        logged = api.logged()
        assert "Traceback" not in logged, logged[-4000:]
        assert "503 for /v1/queues/" in logged, logged[-4000:]


# What a path's parameters are filled with; any other is a random id (a 404 is an answer too).
LIVE = "text/event-stream"  # followed in test_live_stream.py, not read here


async def _every_read_and_a_desk(
    http: httpx.AsyncClient, document: dict[str, Any], queue: str, ticket: str
) -> dict[str, int]:
    """Every GET of the document (live streams aside), then a ticket taken and called: each
    answer's status, a 503 checked to be the problem with Retry-After."""
    values = {"queue_id": queue, "ticket_id": ticket, "site": "main", "code": "not-found"}
    asks = [
        ("GET", re.sub(r"{(\w+)}", lambda m: values.get(m[1], str(uuid.uuid4())), path))
        for path, operations in document["paths"].items()
        if "get" in operations
        and not any(LIVE in r.get("content", {}) for r in operations["get"]["responses"].values())
    ]
    asks += [("POST", f"/v1/queues/{queue}/tickets"), ("POST", f"/v1/queues/{queue}/call-next")]
    answers: dict[str, int] = {}
    for method, path in asks:
        body = {"counter": "1"} if path.endswith("call-next") else {}
        answer = await http.request(method, path, json=body if method == "POST" else None)
        if answer.status_code == 503:
            assert int(answer.headers["retry-after"]) > 0, (path, answer.headers)
            assert answer.headers["content-type"] == "application/problem+json", path
        answers[f"{method} {path}"] = answer.status_code
    return answers


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
