"""A stream worker started while Redis and PostgreSQL are away waits for them; asked to stop
meanwhile, with a batch it cannot apply (retried until they answer), it stops within its bound
(`streams.app.STOP_WAIT_S`: Faust would wait for the batch for ever, and the worker stop only
when killed), says why, and commits nothing of the batch: the next worker, with both back,
applies it."""

from __future__ import annotations

import asyncio
import time
import uuid

import redis.asyncio as aioredis

from core.settings import Settings
from eventstore.pool import open_pool
from projections.layout import Keys
from streams.app import EXIT_UNFINISHED, STOP_WAIT_S, create_app
from tests.integration.conftest import ApiClient
from tests.integration.servers import Process, free_port, read_side


async def test_a_worker_that_cannot_apply_its_batch_waits_and_stops_leaving_it_to_the_next(
    settings: Settings, topics: list[str], api: ApiClient
) -> None:
    closed = free_port()
    away = settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{closed}/0", "pg_port": closed}
    )
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


async def test_a_stopping_worker_closes_its_pool_and_its_redis_client(settings: Settings) -> None:
    """The app's shutdown (after its consumer and agents stopped) closes the connections it
    opened: left open, their tasks held every worker's exit a second before being cancelled."""
    app = create_app(settings)
    pool = await open_pool(settings, min_size=1, max_size=1, wait=True)
    name = f"vq-stop-{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(settings.redis_dsn, client_name=name)
    await client.ping()
    app.vq_state.update(pool=pool, redis=client)  # type: ignore[attr-defined]
    async with aioredis.Redis.from_url(settings.redis_dsn, decode_responses=True) as watcher:
        assert f"name={name}" in await watcher.execute_command("CLIENT", "LIST")
        await app.on_shutdown()
        assert pool.closed
        assert f"name={name}" not in await watcher.execute_command("CLIENT", "LIST")
