"""A Redis that is full (maxmemory, `noeviction`) holds the stream workers back: they cannot write
the read models, so the views stop changing while the queue does.

* A live follower, of a queue or of a ticket, is told so (`event: status` `delayed`, and no view
  meanwhile), as when a worker stops, and `current` once Redis has room again, with the views
  it missed.
* A read is a 503 problem with Retry-After, never the last view presented as fresh: a queue
  (test_redis_full.py), a ticket (with a key or its token), a page of the line, and opening a
  live stream of either; once Redis has room, all answer as before.

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
from query_api.deps import MAX_WAIT_S
from tests.integration.servers import api_processes, free_port, read_side
from tests.integration.test_live_read_side import _events, _until
from tests.integration.test_live_stream import _follow
from tests.integration.test_readiness import own_redis
from tests.integration.test_redis_full import FILLER_BYTES, _projected_queue

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


async def test_a_full_redis_is_said_on_live_streams_and_refuses_reads(
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
            httpx.AsyncClient(base_url=api.url, timeout=20) as customer,
            aioredis.Redis(port=port) as redis,
        ):
            queue = await _projected_queue(http)
            ticket, token = await _projected_ticket(http, queue)
            mine_only = {"X-Ticket-Token": token}
            address = api.url.removeprefix("http://")
            stream = await _follow(address, f"/v1/tickets/{ticket}/events", admin.secret)
            queue_stream = await _follow(address, f"/v1/queues/{queue}/events", admin.secret)
            try:
                first = _events(await _until(stream, b"event: ticket"))
                queue_first = _events(await _until(queue_stream, b"event: queue"))
                await redis.set("filler", b"x" * FILLER_BYTES)
                await redis.config_set("maxmemory-policy", "noeviction")
                await redis.config_set("maxmemory", "1mb")
                joined = await http.post(f"/v1/queues/{queue}/tickets", json={})
                assert joined.status_code == 201, joined.text  # PostgreSQL has it
                delayed = _events(await _until(stream, b"event: status"))
                queue_delayed = _events(await _until(queue_stream, b"event: status"))
                full = {
                    "queue": await http.get(f"/v1/queues/{queue}"),
                    "line": await http.get(f"/v1/queues/{queue}/waiting"),
                    "ticket, key": await http.get(f"/v1/tickets/{ticket}"),
                    "ticket, token": await customer.get(f"/v1/tickets/{ticket}", headers=mine_only),
                    "ticket stream": await _opened(customer, f"/v1/tickets/{ticket}/events", token),
                    "queue stream": await _opened(http, f"/v1/queues/{queue}/events"),
                }
                await redis.config_set("maxmemory", "0")
                back = _events(await _until(stream, b'"read_side": "current"'))
                queue_back = _events(await _until(queue_stream, b'"read_side": "current"'))
            finally:
                stream.close()
                queue_stream.close()
            again = {
                "ticket, key": await http.get(f"/v1/tickets/{ticket}"),
                "ticket, token": await customer.get(f"/v1/tickets/{ticket}", headers=mine_only),
                "ticket stream": await _opened(customer, f"/v1/tickets/{ticket}/events", token),
                "line": await http.get(f"/v1/queues/{queue}/waiting"),
            }
        logged = api.logged()
    assert [kind for kind, _ in first] == ["ticket"]
    assert [kind for kind, _ in queue_first] == ["queue"]
    for said in (delayed, queue_delayed):  # and no view meanwhile
        assert said == [("status", {"read_side": "delayed", "since": said[0][1]["since"]})]
    assert back[-1] == queue_back[-1] == ("status", {"read_side": "current"})
    # The queue's view the follower missed: the two tickets waiting.
    assert [data["waiting"] for kind, data in queue_back if kind == "queue"] == [2]
    assert {name: answer.status_code for name, answer in full.items()} == dict.fromkeys(full, 503)
    for name, answer in full.items():
        assert answer.headers["content-type"] == "application/problem+json", name
        assert int(answer.headers["retry-after"]) > 0, name
        assert answer.json()["type"] == "/problems/service-unavailable", name
    assert {name: answer.status_code for name, answer in again.items()} == dict.fromkeys(again, 200)
    assert again["ticket, token"].json()["position"] == 1
    assert again["line"].json()["total"] == 2
    assert "Traceback" not in logged, logged[-4000:]
    assert f"503 for /v1/tickets/{ticket}" in logged, logged[-4000:]


async def _projected_ticket(http: httpx.AsyncClient, queue: str) -> tuple[str, str]:
    """A ticket taken in `queue` (its id and token), once the workers have put it in the read
    model."""
    joined = await http.post(f"/v1/queues/{queue}/tickets", json={})
    assert joined.status_code == 201, joined.text
    ticket = str(joined.json()["ticket"]["ticket_id"])
    version = joined.json()["stream_version"]
    read = await http.get(
        f"/v1/tickets/{ticket}", params={"min_version": version, "wait": MAX_WAIT_S}
    )
    assert read.status_code == 200, read.text
    return ticket, str(joined.json()["ticket"]["token"])


async def _opened(http: httpx.AsyncClient, path: str, token: str | None = None) -> httpx.Response:
    """The answer's head to opening a live stream (its body, if a problem's), then closed."""
    headers = {} if token is None else {"X-Ticket-Token": token}
    async with http.stream("GET", path, headers=headers) as answer:
        if answer.status_code != 200:
            await answer.aread()
    return answer
