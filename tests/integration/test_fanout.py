"""Live push fanned out in the API process: many followers on one Redis subscription, and a
slow follower that neither delays the others nor is dropped (it resyncs from the view)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from projections.fanout import RESYNC, Hub, HubClosed, changes_pattern
from projections.layout import Keys
from projections.queries import ReadModels
from query_api.live_stream import pump_queue
from tests.integration.servers import api_servers, read_side
from tests.integration.test_live import STARTUP_WAIT_S, WITHIN_S, sse_events
from tests.receivers import wait_until

FOLLOWERS = 300
BUSY_RETRIES = 2  # a follower answered 503 (the API busy) comes back after its Retry-After
QUEUES = 3
# The API's own connections: its bounded query pool (vq/api.py READ_CONNECTIONS) and the hub's.
MAX_API_CONNECTIONS = 64 + 1


def heard(hub: Hub) -> list[int]:
    """The versions of the changes the hub has handed its followers so far, filled as its task
    hands them (Hub.handle offers each follower its message there and then)."""
    versions: list[int] = []
    handle = hub.handle

    def recording(messages: list[dict[str, Any]]) -> None:
        handle(messages)
        for message in messages:
            if message.get("type") == "pmessage":
                versions.append(json.loads(message["data"]).get("version"))

    hub.handle = recording  # type: ignore[method-assign]
    return versions


async def _api_connections(client: aioredis.Redis, prefix: str) -> list[dict[str, Any]]:
    clients: list[dict[str, Any]] = await client.client_list()
    return [c for c in clients if str(c.get("name", "")).startswith(f"vq-api:{prefix}")]


async def test_hundreds_of_followers_share_one_redis_subscription(
    settings: Settings, topics: list[str], store: PostgresEventStore, tenant_id: str
) -> None:
    """300 SSE followers over 3 queues of one API process all see the next change of their
    queue, while the API holds one pub/sub connection and a bounded pool, not one per follower."""
    key = (await TenantDirectory(store).create_key(tenant_id, "admin", "admin")).secret
    auth = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=FOLLOWERS + 20, max_keepalive_connections=20)
    probe = aioredis.Redis.from_url(settings.redis_dsn)
    with api_servers(settings, 1) as urls, read_side(settings):
        async with (
            httpx.AsyncClient(base_url=urls[0], timeout=STARTUP_WAIT_S, headers=auth) as staff,
            httpx.AsyncClient(
                base_url=urls[0], timeout=STARTUP_WAIT_S + 15, headers=auth, limits=limits
            ) as followers,
        ):
            queues: dict[str, int] = {}
            for index in range(QUEUES):
                made = (await staff.post("/v1/queues", json={"name": f"Gate {index}"})).json()
                queues[made["queue_id"]] = made["stream_version"]
            for queue_id, version in queues.items():  # the read side has caught up
                params = {"min_version": version, "wait": STARTUP_WAIT_S}
                assert (await staff.get(f"/v1/queues/{queue_id}", params=params)).is_success
            ready = asyncio.Semaphore(0)
            seen: list[int] = []
            busy: list[str] = []  # the 503s answered (each retried)

            async def follow(queue_id: str) -> None:
                for attempt in range(BUSY_RETRIES + 1):
                    path = f"/v1/queues/{queue_id}/events"
                    async with followers.stream("GET", path) as response:
                        if response.status_code == 503 and attempt < BUSY_RETRIES:
                            # 300 at once on a busy machine: the API may answer that it is busy
                            # (its Redis pool), and a client comes back after its Retry-After.
                            busy.append((await response.aread()).decode())
                            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                            continue
                        detail = "" if response.status_code == 200 else await response.aread()
                        assert response.status_code == 200, detail
                        events = sse_events(response)
                        first = int((await anext(events))["id"])
                        ready.release()
                        async for event in events:
                            if int(event["id"]) > first:
                                seen.append(int(event["id"]))
                                return

            ids = list(queues)
            tasks = [asyncio.create_task(follow(ids[i % QUEUES])) for i in range(FOLLOWERS)]
            async with asyncio.timeout(WITHIN_S + STARTUP_WAIT_S):
                await _all_ready(ready, tasks)
            connections = await _api_connections(probe, settings.redis_prefix)
            subscribed = [c for c in connections if int(c["psub"]) or int(c["sub"])]
            enqueued = {
                queue_id: (await staff.post(f"/v1/queues/{queue_id}/tickets", json={})).json()
                for queue_id in ids
            }
            async with asyncio.timeout(WITHIN_S):
                await asyncio.gather(*tasks)
    await probe.aclose()
    print(f"\n{len(busy)} answered 503 and were retried" + (f": {busy[0]}" if busy else ""))
    assert len(seen) == FOLLOWERS
    assert set(seen) <= {e["stream_version"] for e in enqueued.values()}
    assert len(subscribed) == 1, subscribed  # one subscription for every follower
    assert len(connections) <= MAX_API_CONNECTIONS, len(connections)


async def _all_ready(ready: asyncio.Semaphore, tasks: list[asyncio.Task[None]]) -> None:
    """Until every follower has had its first event; a follower that failed first (a refusal,
    a stream cut short) fails the test with its own error, not with the others' timeout."""

    async def acquired() -> None:
        for _ in tasks:
            await ready.acquire()

    waiting = asyncio.create_task(acquired())
    pending: set[asyncio.Task[None]] = {waiting, *tasks}
    try:
        while not waiting.done():
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {waiting}:
                task.result()
    finally:
        waiting.cancel()


@pytest.fixture
async def redis_client(settings: Settings) -> Any:
    client = aioredis.Redis.from_url(settings.redis_dsn)
    yield client
    await client.aclose()


async def test_a_slow_follower_delays_nobody_and_resyncs(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    """A follower that stops reading loses its buffer, not its place: when it reads again it
    is told to resync; the follower that keeps reading gets every message, in order."""
    keys = Keys(settings.redis_prefix)
    channel = keys.changes(str(uuid.uuid4()), str(uuid.uuid4()))
    hub = Hub(redis_client, changes_pattern(settings.redis_prefix), buffer=8)
    hub.start()
    try:
        async with hub.follow(channel) as fast, hub.follow(channel) as slow:

            async def read_all() -> list[Any]:
                return [await fast.next(WITHIN_S) for _ in range(100)]

            async with asyncio.timeout(WITHIN_S):
                reading = asyncio.create_task(read_all())  # reads while the others publish
                for version in range(1, 101):
                    await redis_client.publish(channel, json.dumps({"version": version}))
                got = await reading
            assert [m["version"] for m in got if m is not None] == list(range(1, 101))
            await redis_client.publish(channel, json.dumps({"version": 101}))
            assert (await fast.next(WITHIN_S) or {}).get("version") == 101
            # The slow one read nothing: a resync, then only what came after its buffer broke.
            assert await slow.next(WITHIN_S) is RESYNC
            assert slow.resyncs > 0 and fast.resyncs == 0
            rest = []
            while (message := await slow.next(0.2)) is not None:
                rest.append(message["version"])
            assert rest and rest == sorted(rest) and rest[-1] == 101 and len(rest) < 8
            assert hub.followers == 2
        assert hub.followers == 0
    finally:
        await hub.close()


async def test_a_queue_follower_that_fell_behind_gets_the_current_view(
    settings: Settings, redis_client: aioredis.Redis, store: PostgresEventStore
) -> None:
    """The queue stream (pump_queue) answers a resync with the view as it is now, and carries
    on: a follower stuck on one push while its buffer overflows shows the current view next."""
    keys = Keys(settings.redis_prefix)
    tenant, queue_id = str(uuid.uuid4()), str(uuid.uuid4())
    hub = Hub(redis_client, changes_pattern(settings.redis_prefix), buffer=4)
    delivered = heard(hub)
    hub.start()
    models = ReadModels(redis_client, keys, store, hub=hub)
    shown: list[int] = []
    changed, unblocked = asyncio.Event(), asyncio.Event()

    async def show(version: int, view: dict[str, Any], newcomer: dict[str, Any] | None) -> None:
        assert view["waiting"] == version
        shown.append(version)
        changed.set()
        if len(shown) == 2:  # the client reads nothing more for a while
            await unblocked.wait()

    async def shown_up_to(version: int) -> None:
        while not shown or shown[-1] < version:
            changed.clear()
            await changed.wait()

    async def change(version: int) -> None:
        view = json.dumps({"queue_id": queue_id, "waiting": version})
        await redis_client.hset(
            keys.queue(tenant, queue_id), mapping={"version": version, "view": view}
        )
        message = {"version": version, "view": {"waiting": version}}
        await redis_client.publish(keys.changes(tenant, queue_id), json.dumps(message))

    view = json.dumps({"queue_id": queue_id, "waiting": 1})
    await redis_client.hset(keys.queue(tenant, queue_id), mapping={"version": 1, "view": view})
    pumping = asyncio.create_task(pump_queue(models, tenant, queue_id, None, None, show, None))
    try:
        async with asyncio.timeout(WITHIN_S):
            await shown_up_to(1)  # the view as it was
            await change(2)
            await shown_up_to(2)  # and now stuck showing it
            for version in range(3, 8):  # 5 messages for a buffer of 4: the 5th overflows it
                await change(version)
            # The hub has handed them all to the follower (its own task reads them: a busy
            # machine may take longer than any fixed wait).
            await wait_until(lambda: 7 in delivered, WITHIN_S, "the hub handing on version 7")
            unblocked.set()
            await shown_up_to(7)  # 7 was dropped with the buffer: read from the view
            await change(8)
            await shown_up_to(8)
        assert shown == [1, 2, 7, 8]
    finally:
        pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumping
        await hub.close()


async def test_closing_the_hub_ends_its_followers(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    hub = Hub(redis_client, changes_pattern(settings.redis_prefix))
    hub.start()
    channel = Keys(settings.redis_prefix).changes(str(uuid.uuid4()), str(uuid.uuid4()))
    async with hub.follow(channel) as follower:
        waiting = asyncio.create_task(follower.next(WITHIN_S))
        await asyncio.sleep(0.05)
        await hub.close()
        with pytest.raises(HubClosed):
            await waiting
    with pytest.raises(HubClosed):
        async with hub.follow(channel):
            pass
