"""A stream worker asked to stop while Redis is away: its batch cannot be applied (it is retried
until Redis answers), and Faust would wait for it for ever, the worker stopping only when
killed. It stops within its bound instead (`streams.app.STOP_WAIT_S`), says why, and commits
nothing of the batch: the next worker, with Redis back, applies it."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from core.settings import Settings
from projections.layout import Keys
from streams.app import EXIT_UNFINISHED, STOP_WAIT_S
from tests.integration.conftest import ApiClient
from tests.integration.servers import Process, free_port, read_side


async def test_a_worker_stopped_while_redis_is_away_stops_and_leaves_its_batch_to_the_next(
    settings: Settings, topics: list[str], api: ApiClient
) -> None:
    away = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    relay = Process(settings, "relay")
    worker = Process(away, "worker", "--loglevel", "warning")
    try:
        queue = await api.create_queue(name="Redis away")
        deadline = time.monotonic() + 60
        while "batch not applied" not in worker.logged():
            assert time.monotonic() < deadline, worker.logged()[-3000:]
            await asyncio.sleep(0.2)
        asked = time.monotonic()
        logged = await asyncio.to_thread(worker.stop)
        took = time.monotonic() - asked
    finally:
        relay.stop()
    assert worker.proc is not None and worker.proc.returncode == EXIT_UNFINISHED, logged[-3000:]
    assert took < STOP_WAIT_S + 10, f"{took:.1f} s"
    assert "stopping now, without the batch under way" in logged, logged[-3000:]

    key = Keys(settings.redis_prefix).queue(api.tenant_id, queue)
    with read_side(settings):  # Redis back: the batch was not committed, so it is applied now
        async with aioredis.Redis.from_url(settings.redis_dsn) as client:
            deadline = time.monotonic() + 60
            while await client.hget(key, "version") is None:
                assert time.monotonic() < deadline, "the batch was lost"
                await asyncio.sleep(0.1)
