"""A Kafka that goes away under running clients and comes back, on a port of its own: how often
the clients knock while it is away, and how soon they work again once it is back.

The shared stack's Kafka must never be stopped (other tests use it), so the clients are pointed at
this stand-in instead: a relay to the real Kafka that says it is the broker (the broker's address
in Metadata and FindCoordinator answers is rewritten to the stand-in's; their versions are held
to 0, whose layout is simple), so every connection a client makes goes through it. `go_down` cuts
them all and from then on accepts every new one, counts it and closes it at once, as a broker
that is stopping does (a closed port would refuse them uncounted); `come_back` relays again.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time

API_VERSIONS, METADATA, FIND_COORDINATOR = 18, 3, 10
HELD_TO_V0 = (METADATA, FIND_COORDINATOR)


class KafkaOutage:
    def __init__(self, real_host: str, real_port: int) -> None:
        self._real = (real_host, real_port)
        self.down = False
        self.port = 0
        self.knocks: list[float] = []  # monotonic times of the connections made while down
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> KafkaOutage:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        self._cut()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def go_down(self) -> None:
        self.down = True
        self._cut()

    def come_back(self) -> None:
        self.down = False

    def knocks_per_s(self, since: float, until: float) -> float:
        return sum(since <= t < until for t in self.knocks) / (until - since)

    def _cut(self) -> None:
        for writer in list(self._open):
            writer.close()
        self._open.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            self.knocks.append(time.monotonic())
            writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._real)
        except OSError:
            writer.close()
            return
        self._open |= {writer, upstream_writer}
        asked: dict[int, tuple[int, int]] = {}  # correlation id: api key, version
        await asyncio.gather(
            self._requests(reader, upstream_writer, asked),
            self._answers(upstream_reader, writer, asked),
        )
        self._open -= {writer, upstream_writer}

    async def _requests(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        asked: dict[int, tuple[int, int]],
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while frame := await _frame(source):
                api_key, version, correlation = struct.unpack(">hhi", frame[:8])
                asked[correlation] = (api_key, version)
                sink.write(struct.pack(">i", len(frame)) + frame)
                await sink.drain()
        sink.close()

    async def _answers(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        asked: dict[int, tuple[int, int]],
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while frame := await _frame(source):
                correlation = struct.unpack(">i", frame[:4])[0]
                api_key, version = asked.pop(correlation, (-1, -1))
                body = self._rewritten(api_key, version, frame[4:])
                sink.write(struct.pack(">ii", len(body) + 4, correlation) + body)
                await sink.drain()
        sink.close()

    def _rewritten(self, api_key: int, version: int, body: bytes) -> bytes:
        if api_key == API_VERSIONS and version == 0:
            error, count = struct.unpack(">hi", body[:6])
            entries = [struct.unpack(">hhh", body[6 + 6 * i : 12 + 6 * i]) for i in range(count)]
            held = [(k, 0, 0) if k in HELD_TO_V0 else (k, lo, hi) for k, lo, hi in entries]
            return struct.pack(">hi", error, count) + b"".join(
                struct.pack(">hhh", *e) for e in held
            )
        if api_key == METADATA and version == 0:
            count, at = struct.unpack(">i", body[:4])[0], 4
            brokers = []
            for _ in range(count):
                node, length = struct.unpack(">ih", body[at : at + 6])
                at += 6 + length + 4  # the host, then the port
                brokers.append(node)
            return struct.pack(">i", count) + b"".join(map(self._broker, brokers)) + body[at:]
        if api_key == FIND_COORDINATOR and version == 0:
            error, node = struct.unpack(">hi", body[:6])
            return body if error else struct.pack(">h", error) + self._broker(node)
        return body

    def _broker(self, node: int) -> bytes:
        """A broker as Metadata v0 and FindCoordinator v0 name it: id, host, port (this one)."""
        host = b"127.0.0.1"
        return struct.pack(">ih", node, len(host)) + host + struct.pack(">i", self.port)


async def _frame(reader: asyncio.StreamReader) -> bytes:
    """One size-prefixed Kafka frame's content (b"": the connection ended between two)."""
    try:
        head = await reader.readexactly(4)
    except asyncio.IncompleteReadError as ended:
        if ended.partial:
            raise
        return b""
    return await reader.readexactly(struct.unpack(">i", head)[0])
