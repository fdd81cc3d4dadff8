"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for load generation.

Why not httpx: on a 2-core box the load generator competes with the API for CPU, and httpx spends
several hundred microseconds of Python per request. This client builds each request as one bytes
write and parses only the status line, Content-Length/chunked framing and `Connection: close`,
so the generator steals as little as possible from the system under test. It is enough for the
JSON answers and the SSE stream of this API, not a general client.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator


class HttpError(Exception):
    """The connection failed or the answer could not be read."""


# uvicorn closes a keep-alive connection idle for 5 s; one idle longer may be closing under us.
MAX_IDLE_S = 4.0


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def close(self) -> None:
        self.writer.close()


def build_request(
    method: str, path: str, host: str, headers: dict[str, str], body: bytes | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines.append("Content-Type: application/json")
    lines.append(f"Content-Length: {len(body) if body else 0}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes]]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, rest = head.partition(b"\r\n")
    status = int(status_line[9:12])
    fields: dict[bytes, bytes] = {}
    for line in rest.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return status, fields


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        if size == 0:
            await reader.readline()
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


class HttpPool:
    """Up to `max_connections` keep-alive connections to one host; a request waits for one."""

    def __init__(self, host: str, port: int, max_connections: int = 256) -> None:
        self.host = host
        self.port = port
        self._max = max_connections
        self._idle: deque[_Connection] = deque()
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def _acquire(self) -> _Connection:
        while True:
            while self._idle:
                conn = self._idle.pop()
                if time.monotonic() - conn.idle_since < MAX_IDLE_S:
                    return conn
                self._open -= 1
                conn.close()
            if self._open < self._max:
                self._open += 1
                try:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                except BaseException as exc:  # cancelled (timeout) too: give the slot back
                    self._open -= 1
                    self._wake()
                    if isinstance(exc, OSError):
                        raise HttpError(f"connect: {exc}") from exc
                    raise
                return _Connection(reader, writer)
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _release(self, conn: _Connection, reusable: bool) -> None:
        if reusable:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            self._open -= 1
            conn.close()
        self._wake()

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one prebuilt request; returns (status, body)."""
        conn = await self._acquire()
        reusable = False
        try:
            conn.writer.write(raw)
            status, fields = await _read_head(conn.reader)
            if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
                body = await _read_chunked(conn.reader)
            else:
                body = await conn.reader.readexactly(int(fields.get(b"content-length", b"0")))
            reusable = fields.get(b"connection", b"").lower() != b"close"
            return status, body
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            # A cancelled or failed request leaves the connection mid-answer: never reuse it.
            self._release(conn, reusable)

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


async def sse_ids(host: str, port: int, raw: bytes) -> AsyncIterator[int]:
    """Open a Server-Sent Events stream and yield each event's `id:` (a stream version).

    Each SSE event is one chunk of the chunked answer, so the chunk-size lines never look like
    `id:` lines and can be skipped without parsing the framing.
    """
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
    try:
        writer.write(raw)
        status, _ = await _read_head(reader)
        if status != 200:
            raise HttpError(f"SSE answered {status}")
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"id: "):
                yield int(line[4:].strip())
    finally:
        writer.close()
