"""A live SSE stream on the wire (query_api/live_stream.py): an API served by uvicorn in this
process (real sockets, Redis and PostgreSQL), followed by raw HTTP/1.1 clients that read the
chunks exactly as sent. The bench's synthetic batch messages are published the way the stream
worker publishes them (projections/projector.py QueueUpdate.message)."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from http_api.limits import BodyLimitMiddleware, DeadlineMiddleware, EncodedSlashMiddleware
from http_api.ratelimit import RateLimitMiddleware
from observability.http_metrics import HttpMetrics
from observability.logs import RequestLog
from projections.fanout import Hub, changes_pattern
from projections.layout import Keys
from projections.queries import ReadModels
from query_api import live_stream, ticket_stream
from query_api.live_stream import pump_queue
from query_api.ticket_stream import _fold_messages
from tests.integration.conftest import ApiClient
from tests.integration.servers import read_side
from tests.integration.test_fanout import heard
from tests.receivers import wait_until
from vq.api import create_app

WITHIN_S = 10.0


class Stream:
    """One raw HTTP/1.1 client of an event stream: its head, then its chunks one by one."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.status = 0
        self.headers: dict[str, str] = {}

    async def head(self) -> None:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = raw.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()

    async def chunk(self) -> bytes:
        """The next chunk of the body (b"": the answer's end)."""
        size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
        data = await self.reader.readexactly(size + 2)
        return data[:-2]

    def close(self) -> None:
        self.writer.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def _served(settings: Settings) -> AsyncIterator[tuple[FastAPI, str]]:
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started, WITHIN_S, "the server's start")
        # Under a loaded box the hub's subscription can take longer than a follow waits for it
        # (a 503 then, which EventSource retries); these tests follow from the start.
        await wait_until(lambda: app.state.hub.subscribed, WITHIN_S, "the hub's subscription")
        yield app, f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


async def _follow(address: str, path: str, key: str, **headers: str) -> Stream:
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    lines = [f"GET {path} HTTP/1.1", f"Host: {address}", f"Authorization: Bearer {key}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    stream = Stream(reader, writer)
    await stream.head()
    return stream


def _view(queue_id: str, waiting: int) -> dict[str, Any]:
    return {"queue_id": queue_id, "name": "Desk", "status": "open", "waiting": waiting}


def _event(queue_id: str, version: int) -> bytes:
    """The event of a view, as the stream has always written it (`queue_out` as its data)."""
    data = {**_view(queue_id, version), "version": version, "estimate": None}
    return f"id: {version}\nevent: queue\ndata: {json.dumps(data)}\n\n".encode()


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(settings.redis_dsn)
    yield client
    await client.aclose()


@pytest.fixture
async def queue(
    settings: Settings, redis_client: aioredis.Redis, tenant_id: str
) -> Callable[[int], Awaitable[None]]:
    """A queue's read model, written as the projector writes it, and its batch messages, sent
    as the stream worker publishes them: `await queue(version)` does both for a version."""
    keys = Keys(settings.redis_prefix)
    queue_id = str(uuid.uuid4())

    async def write(version: int, publish: bool = True) -> None:
        view = _view(queue_id, version)
        hash_key = keys.queue(tenant_id, queue_id)
        await redis_client.hset(hash_key, mapping={"version": version, "view": json.dumps(view)})
        if publish:
            message = {"queue_id": queue_id, "version": version, "view": view, "changes": []}
            await redis_client.publish(keys.changes(tenant_id, queue_id), json.dumps(message))

    write.queue_id = queue_id  # type: ignore[attr-defined]
    await write(1, publish=False)
    return write


async def test_a_queue_stream_sends_retry_then_views_and_each_batch_as_the_same_bytes_to_all(
    settings: Settings,
    store: PostgresEventStore,
    tenant_id: str,
    queue: Any,
) -> None:
    key = (await TenantDirectory(store).create_key(tenant_id, "screen", "viewer")).secret
    path = f"/v1/queues/{queue.queue_id}/events"
    async with _served(settings) as (app, address):
        first, second = await _follow(address, path, key), await _follow(address, path, key)
        try:
            assert (first.status, second.status) == (200, 200)
            head = first.headers
            assert head["content-type"] == "text/event-stream; charset=utf-8"
            assert head["cache-control"] == "no-cache"
            assert head["x-accel-buffering"] == "no"
            assert head["x-stream-version"] == "1"
            assert head["transfer-encoding"] == "chunked"
            assert head["x-content-type-options"] == "nosniff"  # the layers' headers are there
            assert "content-length" not in head
            for stream in (first, second):
                assert await stream.chunk() == b"retry: 2000\n\n"
                assert await stream.chunk() == _event(queue.queue_id, 1)
            await queue(2)
            event = await first.chunk()
            assert event == _event(queue.queue_id, 2)
            assert await second.chunk() == event
            # Resumed with the last id it has: no repeat of that view, the next change only.
            third = await _follow(address, path, key, **{"Last-Event-ID": "2"})
            assert await third.chunk() == b"retry: 2000\n\n"
            await wait_until(lambda: app.state.hub.followers == 3, WITHIN_S)
            await queue(3)
            assert (await third.chunk()).startswith(b"id: 3\nevent: queue\ndata: ")
            third.close()
        finally:
            first.close()
            second.close()


async def test_a_client_that_stops_reading_gets_whole_events_in_order_then_the_newest(
    settings: Settings,
    store: PostgresEventStore,
    redis_client: aioredis.Redis,
    tenant_id: str,
    queue: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A push is written from the hub's task while its stream waits (Follower.direct); when
    the client stops reading, the server's buffer fills and a send has to wait: the rest of it
    goes first when the client reads again, the events after it are never interleaved with
    it or sent out of order, and the stream catches up with the view as it is now."""
    key = (await TenantDirectory(store).create_key(tenant_id, "screen", "viewer")).secret
    keys = Keys(settings.redis_prefix)
    pad = "x" * 100_000
    waited: list[Any] = []

    class Rest(live_stream._Rest):  # counts the sends that had to wait for the client
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            waited.append(self)

    monkeypatch.setattr(live_stream, "_Rest", Rest)

    async def write(version: int) -> None:
        view = {**_view(queue.queue_id, version), "pad": pad}
        await redis_client.hset(
            keys.queue(tenant_id, queue.queue_id),
            mapping={"version": version, "view": json.dumps(view)},
        )
        message = {"queue_id": queue.queue_id, "version": version, "view": view, "changes": []}
        await redis_client.publish(keys.changes(tenant_id, queue.queue_id), json.dumps(message))

    async with _served(settings) as (app, address):
        host, port = address.split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow phone's window
        sock.connect((host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock)
        path = f"/v1/queues/{queue.queue_id}/events"
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
        )
        stream = Stream(reader, writer)
        try:
            await stream.head()
            assert await stream.chunk() == b"retry: 2000\n\n"
            assert (await stream.chunk()).startswith(b"id: 1\n")
            await wait_until(lambda: app.state.hub.followers == 1, WITHIN_S)
            # ~20 MB while the client reads nothing: far more than the sockets and the 64
            # messages a follower may have waiting hold, so it must fall behind.
            for version in range(2, 202):
                await write(version)
            await asyncio.sleep(0.5)
            versions: list[int] = []
            async with asyncio.timeout(WITHIN_S):
                while not versions or versions[-1] < 201:
                    event = (await stream.chunk()).decode()
                    head, _, data = event.partition("\ndata: ")
                    assert head.startswith("id: ") and head.endswith("\nevent: queue")
                    version = int(head[4:].partition("\n")[0])
                    assert json.loads(data)["waiting"] == version  # whole, its own bytes
                    versions.append(version)
            assert versions == sorted(set(versions)) and versions[0] == 2
            assert len(versions) < 200  # it fell behind and skipped to the view as it is now
            assert waited  # (so the rest of a send was awaited, after the client read again)
        finally:
            stream.close()


async def test_a_client_that_leaves_frees_its_follower_and_its_lease(
    settings: Settings, store: PostgresEventStore, tenant_id: str, queue: Any
) -> None:
    key = (await TenantDirectory(store).create_key(tenant_id, "screen", "viewer")).secret
    async with _served(settings) as (app, address):
        stream = await _follow(address, f"/v1/queues/{queue.queue_id}/events", key)
        assert await stream.chunk() == b"retry: 2000\n\n"
        assert (await stream.chunk()).startswith(b"id: 1\n")
        hub: Hub = app.state.hub
        assert (hub.followers, len(hub.leases)) == (1, 1)
        stream.close()
        await wait_until(lambda: hub.followers == 0 and len(hub.leases) == 0, WITHIN_S)


async def test_a_quiet_stream_gets_keepalives_and_ends_cleanly_when_the_hub_closes(
    settings: Settings,
    store: PostgresEventStore,
    tenant_id: str,
    queue: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live_stream, "KEEPALIVE_S", 1.0)
    key = (await TenantDirectory(store).create_key(tenant_id, "screen", "viewer")).secret
    async with _served(settings) as (app, address):
        stream = await _follow(address, f"/v1/queues/{queue.queue_id}/events", key)
        try:
            assert await stream.chunk() == b"retry: 2000\n\n"
            assert (await stream.chunk()).startswith(b"id: 1\n")
            async with asyncio.timeout(WITHIN_S):
                assert await stream.chunk() == b": keepalive\n\n"
                assert await stream.chunk() == b": keepalive\n\n"
                await app.state.hub.close()  # as on SIGTERM: streams end, clients reconnect
                assert await stream.chunk() == b""  # the answer's end: a clean close
        finally:
            stream.close()


async def test_a_queue_pump_that_fell_behind_shows_the_current_view_and_carries_on(
    settings: Settings, redis_client: aioredis.Redis, store: PostgresEventStore
) -> None:
    """What test_fanout checks of the iterator form, of the pump the streams use."""
    keys = Keys(settings.redis_prefix)
    tenant, queue_id = str(uuid.uuid4()), str(uuid.uuid4())
    hub = Hub(redis_client, changes_pattern(settings.redis_prefix), buffer=4)
    delivered = heard(hub)
    hub.start()
    models = ReadModels(redis_client, keys, store, hub=hub)
    shown: list[int] = []
    go_on = asyncio.Event()

    async def write(version: int, publish: bool) -> None:
        view = json.dumps({"queue_id": queue_id, "waiting": version})
        await redis_client.hset(
            keys.queue(tenant, queue_id), mapping={"version": version, "view": view}
        )
        if publish:
            message = {"version": version, "view": {"waiting": version}}
            await redis_client.publish(keys.changes(tenant, queue_id), json.dumps(message))

    async def show(version: int, view: dict[str, Any], newcomer: Any) -> None:
        shown.append(version)
        if len(shown) == 1:
            await go_on.wait()  # a slow client: its buffer overflows meanwhile

    try:
        await write(1, publish=False)
        pumping = asyncio.create_task(pump_queue(models, tenant, queue_id, None, None, show, None))
        await wait_until(lambda: shown == [1], WITHIN_S)
        for version in range(2, 31):
            await write(version, publish=True)
        await wait_until(lambda: 30 in delivered, WITHIN_S)  # the hub handed them all on
        go_on.set()
        await wait_until(lambda: len(shown) == 2, WITHIN_S)
        assert shown == [1, 30]  # the view as it is now, not the backlog
        await write(31, publish=True)
        await wait_until(lambda: shown[-1] == 31, WITHIN_S)
        assert shown == [1, 30, 31]
        pumping.cancel()
    finally:
        await hub.close()


@asynccontextmanager
async def crowded_redis(
    settings: Settings, redis_client: aioredis.Redis
) -> AsyncIterator[tuple[aioredis.Redis, Callable[[], Awaitable[None]]]]:
    """A client whose pool has one connection, taken by a blocking pop until `free()` is
    awaited: a read through it finds no connection ("No connection available"), as the API's
    pool does when hundreds of followers open their streams at once."""
    name = f"vq-crowded-{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis(
        connection_pool=aioredis.BlockingConnectionPool.from_url(
            settings.redis_dsn, max_connections=1, timeout=0.2, client_name=name
        )
    )
    held = f"{settings.redis_prefix}test:held:{name}"
    holding = asyncio.ensure_future(client.blpop([held], timeout=0))

    async def blocked() -> bool:
        clients = await redis_client.client_list()
        return any(c["name"] == name and c["cmd"] == "blpop" for c in clients)

    async def free() -> None:
        if not holding.done():
            await redis_client.rpush(held, "go")
            await holding

    try:
        await wait_for_value(blocked, True)  # the pop holds the one connection
        yield client, free
    finally:
        await free()
        await client.aclose()
        await client.connection_pool.disconnect()  # a pool given is not closed with its client


async def test_a_queue_pump_whose_redis_is_too_busy_to_read_again_shows_the_view_it_had(
    settings: Settings,
    redis_client: aioredis.Redis,
    store: PostgresEventStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hundreds of followers opening at once take the API's Redis pool: the read after
    subscribing fails. The view the request read a moment before is shown instead of ending the
    stream (every client would come back at once), and a change that fell between the two reads
    is shown at the next keepalive, once Redis answers again."""
    monkeypatch.setattr(live_stream, "KEEPALIVE_S", 0.5)
    keys = Keys(settings.redis_prefix)
    tenant, queue_id = str(uuid.uuid4()), str(uuid.uuid4())
    hub = Hub(redis_client, changes_pattern(settings.redis_prefix))
    hub.start()
    shown: list[int] = []

    async def write(version: int) -> None:  # a change whose batch message went before
        view = json.dumps({"queue_id": queue_id, "waiting": version})
        await redis_client.hset(
            keys.queue(tenant, queue_id), mapping={"version": version, "view": view}
        )

    async def show(version: int, view: dict[str, Any], newcomer: Any) -> None:
        shown.append(version)

    async def quiet() -> None:
        pass

    try:
        await write(1)
        known = await ReadModels(redis_client, keys, store, hub=hub).queue(tenant, queue_id)
        await write(2)  # between the request's read and the pump's
        async with crowded_redis(settings, redis_client) as (crowded, free):
            models = ReadModels(crowded, keys, store, hub=hub)  # its reads find no connection
            pumping = asyncio.create_task(
                pump_queue(models, tenant, queue_id, None, None, show, quiet, known)
            )
            await wait_until(lambda: shown == [1] or pumping.done(), WITHIN_S)
            assert not pumping.done(), pumping.exception()
            await free()  # the pool's connection free again
            await wait_until(lambda: shown == [1, 2], WITHIN_S)  # at a keepalive
            pumping.cancel()
    finally:
        await hub.close()


async def test_a_quiet_ticket_stream_gets_keepalives_from_the_hub_sweep(
    settings: Settings, redis_client: aioredis.Redis, store: PostgresEventStore
) -> None:
    """The ticket stream's wait (no timer of its own): a keepalive after its quiet, then the
    next message ends the fold when there is no follower to fold it into (a re-read is due)."""
    keys = Keys(settings.redis_prefix)
    tenant, queue_id = str(uuid.uuid4()), str(uuid.uuid4())
    hub = Hub(redis_client, changes_pattern(settings.redis_prefix))
    hub.start()
    models = ReadModels(redis_client, keys, store, hub=hub)
    pushed: list[bytes] = []

    async def push(chunk: bytes) -> None:
        pushed.append(chunk)

    try:
        async with models.subscription(tenant, queue_id) as sub:
            sub.keepalive(1.0)
            folding = asyncio.create_task(_fold_messages(models, tenant, "t", sub, None, push))
            await wait_until(lambda: pushed == [b": keepalive\n\n"], WITHIN_S)
            message = {"queue_id": queue_id, "version": 2, "view": {}, "changes": []}
            await redis_client.publish(keys.changes(tenant, queue_id), json.dumps(message))
            assert await asyncio.wait_for(folding, WITHIN_S) is None
    finally:
        await hub.close()


async def test_a_ticket_stream_whose_redis_is_too_busy_to_read_again_starts_from_the_request(
    settings: Settings,
    topics: list[str],
    api: ApiClient,
    redis_client: aioredis.Redis,
    store: PostgresEventStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A person opening their ticket's page in a crowd: the read after subscribing finds the
    Redis pool taken. The stream starts from the ticket as the request read it (second in
    line) instead of ending, and the call that fell between the two reads (first in line
    now) is shown at the next keepalive, once Redis answers again."""
    monkeypatch.setattr(ticket_stream, "KEEPALIVE_S", 0.5)
    keys = Keys(settings.redis_prefix)
    tenant = api.tenant_id
    hub = Hub(redis_client, changes_pattern(settings.redis_prefix))
    hub.start()
    plain = ReadModels(redis_client, keys, store, hub=hub)
    pushed: list[dict[str, Any]] = []

    async def push(chunk: bytes) -> None:
        if chunk.startswith(b"id: "):
            pushed.append(json.loads(chunk.split(b"data: ", 1)[1]))

    async def position(ticket_id: str) -> int | None:
        read = await plain.ticket(tenant, ticket_id)
        return None if read is None else read.position

    try:
        with read_side(settings):
            queue_id = await api.create_queue(name="Crowded")
            await api.enqueue(queue_id)
            mine = (await api.enqueue(queue_id))["ticket"]["ticket_id"]
            await wait_for_value(lambda: position(mine), 2)
            known = await plain.ticket(tenant, mine)
            called = await api.post(
                f"/v1/queues/{queue_id}/call-next", "staff", json={"counter": "1"}
            )
            assert called.status_code == 200, called.text
            await wait_for_value(lambda: position(mine), 1)  # between the two reads
            async with crowded_redis(settings, redis_client) as (crowded, free):
                models = ReadModels(crowded, keys, store, hub=hub)  # its reads find no connection
                pumping = asyncio.create_task(
                    ticket_stream.follow_ticket(models, tenant, mine, None, None, push, known)
                )
                await wait_until(lambda: len(pushed) == 1 or pumping.done(), WITHIN_S)
                assert not pumping.done(), pumping.exception()
                assert pushed[0]["position"] == 2
                await free()  # the pool's connection free again
                await wait_until(lambda: len(pushed) == 2, WITHIN_S)  # at a keepalive
                assert pushed[1]["position"] == 1
                pumping.cancel()
    finally:
        await hub.close()


async def wait_for_value(read: Callable[[], Awaitable[Any]], wanted: Any) -> None:
    """Until `read()` gives `wanted` (the read side catching up)."""
    async with asyncio.timeout(WITHIN_S * 3):
        while True:
            if await read() == wanted:
                return
            await asyncio.sleep(0.05)


def test_the_layers_an_event_stream_skips_act_on_an_answers_start_only(settings: Settings) -> None:
    """Events go to the server's send past the app's layers (http_api/security.py SERVER_SEND).
    Every layer there now only reads or adds to an answer's start; a new one must be checked
    (a layer that changes bodies, compression say, needs the bypass taken out)."""
    app = create_app(settings)
    app.add_middleware(RequestLog)  # as vq.api.app_factory adds it
    known = {
        *(BodyLimitMiddleware, DeadlineMiddleware, RateLimitMiddleware, HttpMetrics, RequestLog),
        EncodedSlashMiddleware,  # passes a stream's scope on untouched, or answers it itself
    }
    layers: set[Any] = {layer.cls for layer in app.user_middleware}
    assert layers == known
