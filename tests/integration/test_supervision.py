"""Issue 13, acceptance 7: `vq run` keeps the product up. Its worker killed with SIGKILL runs again
within 5 s, and no command sent before, during or after the kill is lost to the read model (the
queue's version in Redis reaches the event store's stream version). SIGTERM then stops every
child and `vq run` exits 0.

`vq run` itself runs, as `make run` runs it (without the demo), on the test's own schema, topics,
key prefix and data folder, with ports of its own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis.asyncio as aioredis
from psycopg import sql

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from projections.layout import Keys
from tests.integration.reach import delivery_topics
from tests.integration.servers import free_port, settings_env

RESTART_BOUND_S = 5.0


def _state(data_dir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((data_dir / "run.json").read_text())["children"])
    except (OSError, ValueError, KeyError):
        return {}


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def _until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"no {what} within {timeout:g} s"
        await asyncio.sleep(0.05)


def _stream_version(settings: Settings, queue_id: str) -> int:
    query = sql.SQL("SELECT max(stream_version) FROM {}.events WHERE stream_id = %s").format(
        sql.Identifier(settings.db_schema)
    )
    with psycopg.connect(settings.pg_url) as conn:
        row = conn.execute(query, (queue_id,)).fetchone()
    assert row is not None
    return int(row[0])


class Traffic:
    """Commands to one queue, one at a time, each acknowledged (201 or 200) before the next."""

    def __init__(self, http: httpx.AsyncClient, queue_id: str) -> None:
        self.http, self.queue_id = http, queue_id
        self.acknowledged: list[int] = []  # stream versions the API answered with

    async def send(self, count: int) -> None:
        for index in range(count):
            if index % 3 == 2:
                response = await self.http.post(
                    f"/v1/queues/{self.queue_id}/call-next", json={"counter": "1"}
                )
            else:
                response = await self.http.post(f"/v1/queues/{self.queue_id}/tickets", json={})
            assert response.status_code in (200, 201), response.text
            self.acknowledged.append(int(response.json()["stream_version"]))

    async def until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.send(1)
            await asyncio.sleep(0.02)


async def test_a_killed_worker_is_back_within_5_s_and_no_event_is_lost(
    settings: Settings,
    store: PostgresEventStore,
    tenant_id: str,
    topics: list[str],
    tmp_path: Path,
) -> None:
    await delivery_topics(settings)  # the notifier's, as `vq stack up` makes them
    admin = (await TenantDirectory(store).create_key(tenant_id, "admin", "admin")).secret
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **settings_env(settings),
        "VQ_DATA_DIR": str(tmp_path),
        "VQ_API_PORT": str(port),
        "VQ_SMTP_PORT": str(free_port()),  # the inbox's SMTP sink
    }
    console = (tmp_path / "console.txt").open("wb")
    # Ports of its own, all of them: another `vq run` on this host must not meet this one.
    metrics = ",".join(str(free_port()) for _ in range(3))
    command = ["run", "--no-demo", "--inbox-port", str(free_port()), "--metrics-ports", metrics]
    run = subprocess.Popen(
        [sys.executable, "-m", "vq.cli", *command],
        env=env,
        stdout=console,
        stderr=subprocess.STDOUT,
    )

    def said() -> str:
        return (tmp_path / "console.txt").read_text()

    redis = aioredis.from_url(settings.redis_dsn)
    try:

        async def started() -> bool:
            assert run.poll() is None, said()
            return "virtual-queue is running" in said() and "inbox" in _state(tmp_path)

        await _until(started, 60, "banner")
        headers = {"Authorization": f"Bearer {admin}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            # One counter calls again and again: each call closes the previous visit.
            body = {"name": "Supervised", "busy_counter_policy": "close_previous"}
            created = await http.post("/v1/queues", json=body)
            assert created.status_code == 201, created.text
            queue_id = created.json()["queue_id"]
            traffic = Traffic(http, queue_id)
            key = Keys(settings.redis_prefix).queue(tenant_id, queue_id)

            async def folded() -> bool:
                stored = await redis.hget(key, "version")
                return stored is not None and int(stored) >= max(traffic.acknowledged)

            await traffic.send(30)  # before: the worker folds them, so it was working
            await _until(folded, 60, "read model before the kill")

            worker = _state(tmp_path)["worker"]["pid"]
            os.kill(worker, signal.SIGKILL)
            killed = time.monotonic()
            during = asyncio.Event()
            sending = asyncio.create_task(traffic.until(during))

            async def restarted() -> bool:
                pid = _state(tmp_path)["worker"]["pid"]
                return pid not in (None, worker) and _running(pid)

            await _until(restarted, RESTART_BOUND_S, "new worker")
            restart_s = time.monotonic() - killed
            await asyncio.sleep(1.0)  # a little more while the new one joins the group
            during.set()
            await sending
            await traffic.send(30)  # after

            await _until(folded, 60, "read model after the kill")
            caught_up_s = time.monotonic() - killed
            stored = int(await redis.hget(key, "version") or 0)
        assert stored == _stream_version(settings, queue_id) == max(traffic.acknowledged)
        print(
            f"worker back in {restart_s:.2f} s; read model caught up {caught_up_s:.1f} s after "
            f"the kill; {len(traffic.acknowledged)} commands, stream version {stored}"
        )
        children = _state(tmp_path)
        assert children["worker"]["restarts"] == 1
        assert children["worker"]["last_exit"].startswith("was killed by SIGKILL")
        assert all(c["restarts"] == 0 for n, c in children.items() if n != "worker"), children
        assert f"worker (pid {worker}) was killed by SIGKILL" in said()
        assert "restarting it in 0.5 s" in said()
        assert "killed by SIGKILL" in (tmp_path / "logs" / "worker.log").read_text()

        stopping = time.monotonic()
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 0, said()
        print(f"vq run stopped in {time.monotonic() - stopping:.1f} s")
        pids = [worker, *(child["pid"] for child in children.values())]
        assert not [pid for pid in pids if _running(pid)], said()
        assert not (tmp_path / "run.json").exists()
        assert "did not stop in time" not in said()  # each stopped on SIGTERM, in its grace
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        for child in _state(tmp_path).values():  # what a failed test would leave running
            if child.get("pid"):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child["pid"], signal.SIGKILL)
        await redis.aclose()
        console.close()
