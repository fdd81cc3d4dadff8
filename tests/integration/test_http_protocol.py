"""`vq api` below the app (http_api/server_protocol.py), on a real process over raw sockets: a
connection that does not finish its request's head in HEADER_TIMEOUT_S is closed (slowloris), a
head over MAX_HEAD_BYTES is a 431 problem, a request that is not valid HTTP/1.1 a 400 problem,
and none of it gets in the way of ordinary kept-alive requests or of other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.asyncio.client import connect

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.migrate import migrate
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from http_api.server_protocol import MAX_HEAD_BYTES
from tests.conftest import drop_schema, drop_topics, fresh_settings, make_topics
from tests.integration.servers import api_servers, read_side
from tests.integration.test_live import STARTUP_WAIT_S, sse_events

# The head's deadline the tests' API has (VQ_HEADER_TIMEOUT_S; 10 s by default), and what the
# server may take beyond it to close (a loaded CI machine).
HEADER_TIMEOUT_S = 2.0
MARGIN_S = 5.0
HEAD = b"GET /healthz HTTP/1.1\r\nHost: vq.test\r\n"


@pytest.fixture(scope="module")
def served(stack_env: dict[str, str]) -> Iterator[tuple[Settings, str]]:
    """One `vq api` (and a read side) for the whole file: the settings it runs with, its URL."""
    quick = fresh_settings(stack_env, header_timeout_s=HEADER_TIMEOUT_S)
    migrate(quick.pg_url, quick.db_schema)
    asyncio.run(make_topics(quick))
    try:
        with api_servers(quick, 1) as (url,), read_side(quick):
            yield quick, url
    finally:
        asyncio.run(drop_topics(quick))
        drop_schema(quick)


@pytest.fixture
def api_url(served: tuple[Settings, str]) -> str:
    return served[1]


@contextlib.asynccontextmanager
async def connection(url: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def until_closed(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """All the server writes until it closes the connection (a reset counts as a close)."""
    received = b""
    async with asyncio.timeout(timeout):
        with contextlib.suppress(ConnectionResetError):
            while chunk := await reader.read(65536):
                received += chunk
    return received


async def response(reader: asyncio.StreamReader) -> tuple[int, dict[str, Any], bytes]:
    """One response with a Content-Length, off a connection that stays open."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    return _with_body(head, await reader.readexactly(_headers(head).get("content-length", 0)))


def parse(raw: bytes) -> tuple[int, dict[str, Any], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return _with_body(head, body)


def _headers(head: bytes) -> dict[str, Any]:
    fields = [line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line]
    headers: dict[str, Any] = {k.strip().lower().decode(): v.strip().decode() for k, v in fields}
    if "content-length" in headers:
        headers["content-length"] = int(headers["content-length"])
    return headers


def _with_body(head: bytes, body: bytes) -> tuple[int, dict[str, Any], bytes]:
    status = int(head.split(b" ", 2)[1])
    return status, _headers(head), body


def assert_closed_in_time(received: bytes) -> None:
    """Closed without a word, or with a 408 problem."""
    if received:
        status, headers, body = parse(received)
        assert status == 408, received[:300]
        assert headers["content-type"] == "application/problem+json"
        assert json.loads(body)["type"] == "/problems/request-timeout"


async def test_connections_that_do_not_finish_their_head_are_closed(api_url: str) -> None:
    deadline = HEADER_TIMEOUT_S + MARGIN_S

    async def silent() -> bytes:
        async with connection(api_url) as (reader, _):
            return await until_closed(reader, deadline)

    async def partial_request_line() -> bytes:
        async with connection(api_url) as (reader, writer):
            writer.write(b"GET /v1/q")
            return await until_closed(reader, deadline)

    async def byte_a_second() -> bytes:
        async with connection(api_url) as (reader, writer):

            async def drip() -> None:
                with contextlib.suppress(OSError):
                    for byte in HEAD + b"X-Slow: " + b"a" * 1000:
                        writer.write(bytes([byte]))
                        await writer.drain()
                        await asyncio.sleep(1)

            dripping = asyncio.create_task(drip())
            try:
                return await until_closed(reader, deadline)
            finally:
                dripping.cancel()

    async def second_request_slow() -> bytes:
        """On a kept-alive connection, the deadline holds for each request's head."""
        async with connection(api_url) as (reader, writer):
            writer.write(HEAD + b"\r\n")
            status, _, _ = await response(reader)
            assert status == 200
            writer.write(HEAD)  # and never the blank line
            return await until_closed(reader, deadline)

    async def others_are_served() -> int:
        await asyncio.sleep(1)  # while the others hang
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{api_url}/healthz", timeout=5)).status_code

    *closed, healthz = await asyncio.gather(
        silent(),
        partial_request_line(),
        byte_a_second(),
        second_request_slow(),
        others_are_served(),
    )
    assert healthz == 200
    for received in closed:
        assert_closed_in_time(received)
    assert closed[0] == b""  # nothing was asked: nothing to answer


async def test_a_head_over_the_limit_is_a_431_problem(api_url: str) -> None:
    async with connection(api_url) as (reader, writer):
        writer.write(HEAD + b"X-Big: " + b"a" * (100 * 1024) + b"\r\n\r\n")
        with contextlib.suppress(ConnectionResetError):
            await writer.drain()
        status, headers, body = parse(await until_closed(reader, 10))
    assert status == 431
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    problem = json.loads(body)
    assert problem["type"] == "/problems/request-header-fields-too-large"
    assert problem["title"] == "The request's line and headers are too large"
    assert problem["status"] == 431
    # Just under the limit is served: the limit is the head's, not a header's.
    async with connection(api_url) as (reader, writer):
        writer.write(HEAD + b"X-Big: " + b"a" * (MAX_HEAD_BYTES - 200) + b"\r\n\r\n")
        status, _, _ = await response(reader)
    assert status == 200


MALFORMED = [
    b"POST /v1/queues HTTP/1.1\r\nHost: vq.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /v1/queues HTTP/1.1\r\nHost: vq.test\r\nContent-Length: 2\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET /heal\x00thz HTTP/1.1\r\nHost: vq.test\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: vq.test\r\nX-Nul: a\x00b\r\n\r\n",
    b"BREW /healthz HTTP/1.1\r\nHost: vq.test\r\n\r\n",
    b"GET /healthz HTTP/1.2\r\nHost: vq.test\r\n\r\n",
    b"POST /v1/queues HTTP/1.1\r\nHost: vq.test\r\nContent-Length: -1\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n\r\n",  # no Host (RFC 9112 3.2)
    b"GET /healthz HTTP/1.1\r\nHost: vq.test\r\nHost: elsewhere.test\r\n\r\n",
]


async def test_requests_that_are_not_http_are_400_problems(api_url: str) -> None:
    for request in MALFORMED:
        async with connection(api_url) as (reader, writer):
            writer.write(request)
            status, headers, body = parse(await until_closed(reader, 10))
        assert status == 400, request
        assert headers["content-type"] == "application/problem+json", request
        assert headers["connection"] == "close"
        problem = json.loads(body[: headers["content-length"]])
        assert problem["type"] == "/problems/malformed-http", request
        assert problem["status"] == 400
    async with connection(api_url) as (reader, writer):  # HTTP/1.0 needs no Host
        writer.write(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert parse(await until_closed(reader, 10))[0] == 200


async def test_kept_alive_connections_serve_request_after_request(api_url: str) -> None:
    async with connection(api_url) as (reader, writer):
        for _ in range(2):
            writer.write(HEAD + b"\r\n")
            status, headers, body = await response(reader)
            assert status == 200, body
            assert "close" not in headers.get("connection", "")
        # Two requests in one write (pipelined) are both answered, in order.
        writer.write(HEAD + b"\r\n" + HEAD + b"\r\n")
        assert (await response(reader))[0] == 200
        assert (await response(reader))[0] == 200


async def test_live_streams_outlast_the_head_deadline(served: tuple[Settings, str]) -> None:
    """The deadline is the head's: an SSE stream and a WebSocket open longer still get events."""
    quick, url = served
    pool = await open_pool(quick, min_size=1, max_size=1, wait=True)
    try:
        _, admin = await TenantDirectory(PostgresEventStore(pool)).create_tenant("Clinic")
    finally:
        await pool.close()
    key = admin.secret
    async with httpx.AsyncClient(
        base_url=url, timeout=STARTUP_WAIT_S + 15, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        made = (await client.post("/v1/queues", json={"name": "Desk", "counters": ["1"]})).json()
        queue_id, created = made["queue_id"], made["stream_version"]
        stream = f"/v1/queues/{queue_id}/events"
        params = {"access_token": key, "min_version": created, "wait": STARTUP_WAIT_S}
        ws_url = url.replace("http://", "ws://") + f"/v1/queues/{queue_id}/ws?access_token={key}"
        async with client.stream("GET", stream, params=params) as sse, connect(ws_url) as ws:
            events = sse_events(sse)
            assert (await anext(events))["id"] == str(created)
            assert json.loads(await ws.recv())["version"] == created
            await asyncio.sleep(HEADER_TIMEOUT_S + 2)
            enqueued = await client.post(f"/v1/queues/{queue_id}/tickets", json={})
            version = enqueued.json()["stream_version"]
            async with asyncio.timeout(15):
                assert (await anext(events))["id"] == str(version)
                assert json.loads(await ws.recv())["version"] == version
