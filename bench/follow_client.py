"""Live followers, thousands per process: SSE queue and ticket streams and WebSockets.

Run as `python -m bench.follow_client CONFIG.json`. It opens its followers at a fixed rate (so
the API's listen backlog is never flooded), prints one JSON line starting `connected` once every
follower is live (its first event arrived) or failed, then waits for `stop` on stdin, closes
them all and writes, per follower, its HTTP status, when it started and went live, when it
ended (if the server ended it), and every version it received with its arrival time.

Cheap on purpose (it shares 2 cores with the API): an SSE follower is an asyncio Protocol that
writes one prebuilt GET and scans what arrives for `\\nid: ` lines, nothing else (each SSE
event is one chunk of the chunked answer, so chunk-size lines never look like `id:` lines).
WebSockets use the `websockets` client (it answers the server's pings). Times are
`time.monotonic()`: one clock for every process on Linux.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any, cast

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from bench.aio import run
from bench.httpclient import build_request

HEAD_LIMIT = 65536
SETTLE_GRACE_S = 60.0  # after the last connect starts, how long the stragglers may take
# Status of a follower that never got an answer: no connection, or closed before its head.
NO_CONNECTION, CLOSED_EARLY = -1, -2


def raise_nofile() -> int:
    """Raise this process's soft limit on open files to the hard one; returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Track:
    """What one follower saw."""

    __slots__ = ("ended", "error", "kind", "live_at", "queue", "started", "status", "t", "v")

    def __init__(self, kind: str, queue: str) -> None:
        self.kind = kind
        self.queue = queue
        self.status = 0  # 0: pending; 200 (SSE) or 101 (WebSocket): accepted; else refused
        self.error = ""
        self.started = 0.0
        self.live_at: float | None = None
        self.ended: float | None = None  # the server or the network ended it (not us)
        self.v: list[int] = []
        self.t: list[float] = []

    def row(self) -> list[Any]:
        return [self.kind, self.queue, self.status, self.error, self.started, self.live_at]


class Settled:
    """Counts followers that went live or failed; `done` when all have."""

    def __init__(self, total: int) -> None:
        self.left = total
        self.done = asyncio.Event()
        if total == 0:
            self.done.set()

    def one(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.done.set()


def scan_ids(buffer: bytes) -> tuple[list[int], bytes]:
    """The `id:` values of the complete `\\nid: N\\n` lines in `buffer`, and the tail to keep
    (the start of a line that may be completed by the next read)."""
    found: list[int] = []
    pos = 0
    while (start := buffer.find(b"\nid: ", pos)) >= 0:
        end = buffer.find(b"\n", start + 5)
        if end < 0:
            return found, buffer[start:]
        found.append(int(buffer[start + 5 : end]))
        pos = end
    return found, buffer[max(pos, len(buffer) - 4) :]


class SseFollower(asyncio.Protocol):
    def __init__(self, track: Track, request: bytes, settled: Settled) -> None:
        self.track = track
        self.request = request
        self.settled = settled
        self.head: bytes | None = b""  # None once the head was read
        self.tail = b""
        self.transport: asyncio.Transport | None = None
        self.stopping = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if self.head is not None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > HEAD_LIMIT:
                    self._fail(CLOSED_EARLY, "no end of head")
                return
            self.track.status = int(self.head[9:12])
            data, self.head = self.head[end + 2 :], None
            if self.track.status != 200:
                self._fail(self.track.status, "")
                return
        versions, self.tail = scan_ids(self.tail + data)
        track = self.track
        for version in versions:
            track.v.append(version)
            track.t.append(now)
        if versions and track.live_at is None:
            track.live_at = now
            self.settled.one()

    def _fail(self, status: int, error: str) -> None:
        self.track.status, self.track.error = status, error
        if self.track.live_at is None:
            self.settled.one()
            self.track.live_at = -1.0  # settled, never live
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.stopping:
            return
        self.track.ended = time.monotonic()
        if self.track.live_at is None:
            self.track.error = self.track.error or str(exc or "closed before its first event")
            self._fail(self.track.status or CLOSED_EARLY, self.track.error)

    def stop(self) -> None:
        self.stopping = True
        if self.transport is not None:
            self.transport.abort()


class Followers:
    def __init__(self, config: dict[str, Any]) -> None:
        self.host: str = config["host"]
        self.port: int = int(config["port"])
        self.rate = float(config["rate"])
        self.specs: list[list[str]] = config["followers"]
        self.tracks = [Track(kind, queue) for kind, queue, *_ in self.specs]
        self.settled = Settled(len(self.specs))
        self.sse: list[SseFollower] = []
        self.sockets: list[asyncio.Task[None]] = []
        self.opening: list[asyncio.Task[None]] = []  # held: a task nobody refers to may vanish
        self.stopping = False

    def _path(self, kind: str, queue: str, target: str) -> str:
        if kind == "ticket":
            return f"/v1/tickets/{target}/events"
        return f"/v1/queues/{queue}/{'ws' if kind == 'ws' else 'events'}"

    async def _open_sse(self, track: Track, path: str, headers: dict[str, str]) -> None:
        headers = {**headers, "Accept": "text/event-stream"}
        raw = build_request("GET", path, f"{self.host}:{self.port}", headers)
        protocol = SseFollower(track, raw, self.settled)
        self.sse.append(protocol)
        try:
            await asyncio.get_running_loop().create_connection(
                lambda: protocol, self.host, self.port
            )
        except OSError as exc:
            protocol._fail(NO_CONNECTION, f"connect: {exc}")

    async def _socket(self, track: Track, path: str, headers: dict[str, str]) -> None:
        uri = f"ws://{self.host}:{self.port}{path}"
        try:
            async with connect(
                uri,
                additional_headers=headers,
                proxy=None,
                open_timeout=SETTLE_GRACE_S,
                ping_interval=None,  # the server pings; the client answers (as browsers do)
                close_timeout=2,
                max_size=1 << 22,
            ) as ws:
                track.status = 101
                async for message in ws:
                    now = time.monotonic()
                    track.v.append(int(json.loads(message)["version"]))
                    track.t.append(now)
                    if track.live_at is None:
                        track.live_at = now
                        self.settled.one()
        except InvalidStatus as exc:
            track.status, track.error = exc.response.status_code, ""
        except (OSError, TimeoutError, WebSocketException, ValueError, KeyError) as exc:
            track.error = f"{type(exc).__name__}: {exc}"[:200]
            track.status = track.status or NO_CONNECTION
        if not self.stopping:
            track.ended = time.monotonic()
        if track.live_at is None:
            track.live_at = -1.0
            self.settled.one()

    async def open_all(self) -> dict[str, Any]:
        start = time.monotonic()
        for index, (spec, track) in enumerate(zip(self.specs, self.tracks, strict=True)):
            kind, queue, target, header, value = spec
            delay = start + index / self.rate - time.monotonic()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            track.started = time.monotonic()
            path = self._path(kind, queue, target)
            if kind == "ws":
                self.sockets.append(asyncio.create_task(self._socket(track, path, {header: value})))
            else:
                self.opening.append(
                    asyncio.create_task(self._open_sse(track, path, {header: value}))
                )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.settled.done.wait(), SETTLE_GRACE_S)
        live = [t.live_at for t in self.tracks if t.live_at is not None and t.live_at > 0]
        return {
            "live": len(live),
            "pending": self.settled.left,
            "seconds": round((max(live) if live else time.monotonic()) - start, 2),
        }

    async def stop(self) -> None:
        self.stopping = True
        for protocol in self.sse:
            protocol.stop()
        for task in self.sockets:
            task.cancel()
        await asyncio.gather(*self.sockets, return_exceptions=True)


async def follow(config: dict[str, Any]) -> dict[str, Any]:
    followers = Followers(config)
    summary = await followers.open_all()
    print("connected " + json.dumps(summary), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # `stop` (or the bench went away)
    await followers.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "followers": [[*t.row(), t.ended, t.v, t.t] for t in followers.tracks],
    }


def main() -> int:
    raise_nofile()
    config = json.loads(Path(sys.argv[1]).read_text())
    result = run(follow(config))
    Path(config["out"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
