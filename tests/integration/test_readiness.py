"""`/readyz` of a real API process: 200 with PostgreSQL, Redis and Kafka up and nothing behind;
503 naming "redis" (and nothing else) once its Redis is killed; ready again when it is back; 503
naming "relay_lag" once more events wait for the relay (none runs here) than its bound allows.
The Redis is the test's own (a `redis-server` on a free port): the shared stack is never touched.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from tests.integration.servers import api_servers, free_port

PARTS = {"postgresql", "redis", "kafka", "relay_lag", "consumer_lag", "dead_letters"}
WITHIN_S = 15.0
RELAY_LAG_MAX = 2

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


@contextmanager
def own_redis(folder: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A throwaway redis-server on loopback (no persistence), killed at the end."""
    proc = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(folder)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, check=False
            ).stdout.strip()
            != b"PONG"
        ):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        yield proc
    finally:
        proc.kill()
        proc.wait()


async def until(url: str, status: int) -> httpx.Response:
    """GET /readyz until it answers `status` (answers are cached a second or two)."""
    deadline = time.monotonic() + WITHIN_S
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            response = await http.get(f"{url}/readyz")
            if response.status_code == status or time.monotonic() > deadline:
                return response
            await asyncio.sleep(0.2)


async def test_readyz_names_redis_when_it_is_stopped(
    settings: Settings,
    topics: list[str],
    store: PostgresEventStore,
    tenant_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = (await TenantDirectory(store).create_key(tenant_id, "admin", "admin")).secret
    monkeypatch.setenv("VQ_READY_MAX_RELAY_LAG", str(RELAY_LAG_MAX))
    port = free_port()
    mine = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"})
    started = time.monotonic()
    with own_redis(tmp_path, port) as redis, api_servers(mine, 1) as [url]:
        ready = await until(url, 200)
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready"
        assert set(body["checks"]) == PARTS
        assert all(check["ok"] for check in body["checks"].values()), body
        assert body["checks"]["relay_lag"]["events"] == 0
        assert body["checks"]["consumer_lag"]["events"] == 0
        for secret in (str(port), "127.0.0.1", "redis://", "postgresql://", mine.pg_password):
            assert f'"{secret}' not in ready.text and f"{secret}@" not in ready.text

        redis.kill()
        redis.wait()
        unready = await until(url, 503)
        assert unready.status_code == 503, unready.text
        assert unready.headers["content-type"] == "application/problem+json"
        assert int(unready.headers["retry-after"]) > 0
        problem = unready.json()
        assert problem["type"] == "/problems/service-unavailable"
        assert problem["detail"] == "not ready: redis"
        assert problem["failing"] == ["redis"]
        assert problem["checks"]["redis"]["ok"] is False
        assert problem["checks"]["redis"]["error"] in ("unavailable", "timeout")
        assert all(problem["checks"][part]["ok"] for part in PARTS - {"redis"}), problem
        assert str(port) not in unready.text
        async with httpx.AsyncClient(timeout=5) as http:
            assert (await http.get(f"{url}/healthz")).status_code == 200  # alive all the same

        with own_redis(tmp_path, port):
            assert (await until(url, 200)).status_code == 200
            await _relay_falls_behind(url, key)
    print(f"readiness test: {time.monotonic() - started:.1f}s")


async def _relay_falls_behind(url: str, key: str) -> None:
    """Events appended with no relay to publish them: past the bound, "relay_lag" fails."""
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:
        made = await http.post(f"{url}/v1/queues", json={"name": "Lagging", "counters": ["1"]})
        assert made.status_code == 201, made.text
        for _ in range(RELAY_LAG_MAX):
            answer = await http.post(f"{url}/v1/queues/{made.json()['queue_id']}/tickets", json={})
            assert answer.status_code == 201, answer.text
    behind = await until(url, 503)
    assert behind.status_code == 503, behind.text
    problem = behind.json()
    assert problem["failing"] == ["relay_lag"]
    lag = problem["checks"]["relay_lag"]
    assert lag["events"] > RELAY_LAG_MAX and lag["max"] == RELAY_LAG_MAX
    assert lag["error"] == "over bound" and lag["seconds"] >= 0
