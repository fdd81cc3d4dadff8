"""Live connections are authenticated for as long as they last (issue 18, acceptance 3): revoking
a key or signing a session out ends the SSE streams and WebSockets opened with it within 5 s, on
a real `vq api` process, and the reconnect is a 401; other credentials' followers carry on. Each
key or person has a limit of live streams (429 past it).

The first test runs the whole read side (a change flows from a command to the follower that is
still connected); the others write the queue's read model and its change message themselves.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from access.directory import TenantDirectory
from access.passwords import hash_password
from access.users import insert_user
from core.settings import Settings
from eventstore.pool import pooled
from eventstore.postgres import PostgresEventStore
from projections.layout import Keys
from tests.integration.servers import api_servers, read_side
from tests.integration.test_live import STARTUP_WAIT_S, WITHIN_S, sse_events

CLOSED_WITHIN_S = 5.0  # the acceptance
LIMIT = 3  # live streams per key or person, low for the test
PROCESS_LIMIT = LIMIT + 2  # live streams of the API process
PASSWORD = "violet tram under the pier"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"live_per_client": LIMIT, "live_max": PROCESS_LIMIT})


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(settings.redis_dsn)
    yield client
    await client.aclose()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@asynccontextmanager
async def following(
    http: httpx.AsyncClient, path: str, secret: str
) -> AsyncIterator[tuple[httpx.Response, AsyncIterator[dict[str, str]]]]:
    """An open SSE stream whose first event (the current view) has arrived."""
    async with http.stream("GET", path, headers=bearer(secret)) as response:
        assert response.status_code == 200, await response.aread()
        events = sse_events(response)
        assert "id" in await anext(events)
        yield response, events


async def ended(events: AsyncIterator[dict[str, str]]) -> None:
    """Returns once the server has ended the stream (views meanwhile are skipped)."""
    async for _ in events:
        pass


async def closed_with(socket: ClientConnection) -> int | None:
    """The close code, once the server has closed the socket."""
    with pytest.raises(ConnectionClosed):
        while True:
            await socket.recv()
    return socket.close_code


async def refused(http: httpx.AsyncClient, path: str, secret: str) -> httpx.Response:
    """The answer to a stream that must not open (read in full: it is a problem, not a stream)."""
    async with http.stream("GET", path, headers=bearer(secret)) as response:
        await response.aread()
        assert response.status_code != 200, "the stream opened"
        return response


async def test_revoking_a_key_closes_its_streams_and_sockets_within_5_s(
    settings: Settings, topics: list[str], store: PostgresEventStore, tenant_id: str
) -> None:
    directory = TenantDirectory(store)
    admin = (await directory.create_key(tenant_id, "admin", "admin")).secret
    board = await directory.create_key(tenant_id, "board", "display")
    other = (await directory.create_key(tenant_id, "other board", "display")).secret
    with api_servers(settings, 1) as urls, read_side(settings):
        async with httpx.AsyncClient(base_url=urls[0], timeout=STARTUP_WAIT_S + 15) as http:
            made = await http.post("/v1/queues", json={"name": "Gate"}, headers=bearer(admin))
            queue_id = made.json()["queue_id"]
            params = {"min_version": made.json()["stream_version"], "wait": STARTUP_WAIT_S}
            read = await http.get(f"/v1/queues/{queue_id}", params=params, headers=bearer(admin))
            assert read.status_code == 200, read.text
            path = f"/v1/queues/{queue_id}/events"
            ws_url = urls[0].replace("http://", "ws://") + f"/v1/queues/{queue_id}/ws"
            async with (
                following(http, path, board.secret) as (_, revoked_events),
                connect(ws_url, additional_headers=bearer(board.secret)) as socket,
                following(http, path, other) as (_, others_events),
            ):
                assert json.loads(await socket.recv())["version"] >= 1
                started = time.monotonic()
                async with asyncio.timeout(CLOSED_WITHIN_S):
                    answer = await http.delete(
                        f"/v1/keys/{board.key.key_id}", headers=bearer(admin)
                    )
                    assert answer.status_code == 204
                    _, code = await asyncio.gather(ended(revoked_events), closed_with(socket))
                print(f"revoked: stream and socket closed in {time.monotonic() - started:.2f} s")
                assert code == 4401 and socket.close_reason == "credential revoked"
                assert (await refused(http, path, board.secret)).status_code == 401
                with pytest.raises(InvalidStatus) as refusal:
                    async with connect(ws_url, additional_headers=bearer(board.secret)):
                        pass
                assert refusal.value.response.status_code == 401
                # The other key's follower is still connected and sees the next change.
                enqueued = await http.post(
                    f"/v1/queues/{queue_id}/tickets", json={}, headers=bearer(admin)
                )
                async with asyncio.timeout(WITHIN_S):
                    event = await anext(others_events)
                assert int(event["id"]) == enqueued.json()["stream_version"]


async def seed_queue(client: aioredis.Redis, settings: Settings, tenant: str) -> str:
    """A queue's read model, as the projector would have written it (version 1)."""
    queue_id = str(uuid.uuid4())
    await change(client, settings, tenant, queue_id, 1)
    return queue_id


async def change(
    client: aioredis.Redis, settings: Settings, tenant: str, queue_id: str, version: int
) -> None:
    """The queue's next version, written and announced on its channel as the projector does."""
    keys, view = Keys(settings.redis_prefix), {"queue_id": queue_id, "waiting": version}
    await client.hset(
        keys.queue(tenant, queue_id), mapping={"version": version, "view": json.dumps(view)}
    )
    message = {"version": version, "view": view}
    await client.publish(keys.changes(tenant, queue_id), json.dumps(message))


async def test_signing_out_closes_that_sessions_stream_within_5_s(
    settings: Settings, pool: Any, tenant_id: str, redis_client: aioredis.Redis
) -> None:
    """A person signed in twice (two sessions) follows the queue from each; signing one out
    ends that stream only."""
    async with pooled(pool) as conn, conn.transaction():
        await insert_user(
            conn,
            tenant_id=tenant_id,
            email="nurse@clinic.example",
            name="Nurse",
            role="staff",
            password_hash=await hash_password(PASSWORD),
            verified=True,
        )
    queue_id = await seed_queue(redis_client, settings, tenant_id)
    path = f"/v1/queues/{queue_id}/events"
    login = {"tenant_id": tenant_id, "email": "nurse@clinic.example", "password": PASSWORD}
    with api_servers(settings, 1) as urls:
        async with httpx.AsyncClient(base_url=urls[0], timeout=WITHIN_S) as http:
            desk, phone = [
                (await http.post("/v1/auth/login", json=login)).json()["access_token"]
                for _ in range(2)
            ]
            async with (
                following(http, path, desk) as (_, desk_events),
                following(http, path, phone) as (_, phone_events),
            ):
                started = time.monotonic()
                async with asyncio.timeout(CLOSED_WITHIN_S):
                    answer = await http.post("/v1/auth/logout", headers=bearer(desk))
                    assert answer.status_code == 204
                    await ended(desk_events)
                print(f"signed out: stream closed in {time.monotonic() - started:.2f} s")
                assert (await refused(http, path, desk)).status_code == 401
                await change(redis_client, settings, tenant_id, queue_id, 2)
                async with asyncio.timeout(WITHIN_S):
                    assert (await anext(phone_events))["id"] == "2"


async def test_a_key_holds_at_most_its_limit_of_live_streams(
    settings: Settings, store: PostgresEventStore, tenant_id: str, redis_client: aioredis.Redis
) -> None:
    directory = TenantDirectory(store)
    key = (await directory.create_key(tenant_id, "screens", "display")).secret
    other = (await directory.create_key(tenant_id, "kiosk", "display")).secret
    third = (await directory.create_key(tenant_id, "tv", "display")).secret
    queue_id = await seed_queue(redis_client, settings, tenant_id)
    path = f"/v1/queues/{queue_id}/events"
    limits = httpx.Limits(max_connections=LIMIT + 10)
    with api_servers(settings, 1) as urls:
        async with (
            httpx.AsyncClient(base_url=urls[0], timeout=WITHIN_S, limits=limits) as http,
            AsyncExitStack() as streams,
        ):
            first, _ = await streams.enter_async_context(following(http, path, key))
            for _ in range(LIMIT - 1):
                await streams.enter_async_context(following(http, path, key))
            over = await refused(http, path, key)
            assert over.status_code == 429
            assert over.headers["content-type"] == "application/problem+json"
            assert int(over.headers["retry-after"]) > 0
            problem = over.json()
            assert problem["type"] == "/problems/too-many-streams" and problem["limit"] == LIMIT
            ws_url = urls[0].replace("http://", "ws://") + f"/v1/queues/{queue_id}/ws"
            with pytest.raises(InvalidStatus) as refusal:
                async with connect(ws_url, additional_headers=bearer(key)):
                    pass
            assert refusal.value.response.status_code == 429
            # Another key has its own limit; the process has one for everybody (a 503: the
            # client tries again, on another replica behind the same address if there is one).
            for _ in range(PROCESS_LIMIT - LIMIT):
                await streams.enter_async_context(following(http, path, other))
            full = await refused(http, path, third)
            assert full.status_code == 503 and int(full.headers["retry-after"]) > 0
            assert full.json()["type"] == "/problems/live-capacity"
            # Closing one stream frees its place as soon as the server sees it go.
            await first.aclose()
            async with asyncio.timeout(CLOSED_WITHIN_S):
                while True:
                    async with http.stream("GET", path, headers=bearer(key)) as again:
                        if again.status_code == 200:
                            break
                        await again.aread()
                        assert again.status_code == 429
                    await asyncio.sleep(0.1)
