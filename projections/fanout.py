"""One Redis pub/sub connection per API process, fanned out to every local follower.

The hub holds one pattern subscription to every queue's change channel under the prefix and a
map channel -> local followers. Each follower has a bounded buffer: the hub never waits for a
follower, so a slow one cannot delay the hub or the others. A follower whose buffer overflows
loses the buffered messages and finds a RESYNC marker instead: it re-reads the current view from
the read model (and versions tell it what it has already shown), rather than being dropped.

When the connection to Redis is lost, or the hub closes (the API stops), every follower ends
with ReadModelUnavailable: its stream ends and the client reconnects, to this or another replica,
with Last-Event-ID. The hub reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from projections.unavailable import ReadModelUnavailable

log = logging.getLogger("vq.fanout")

# Messages a follower may have waiting before it is told to resync instead.
BUFFER: Final = 64
# How long a new follower waits for the hub's subscription (at start, after a Redis restart).
READY_WAIT_S: Final = 2.0
# Between attempts to subscribe again after Redis went away.
RECONNECT_S: Final = 1.0
# How long one read of the pub/sub connection waits (the hub notices a close this often).
POLL_S: Final = 1.0
_REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
# In place of the messages a follower fell behind on: re-read the current view (by identity).
RESYNC: Final[dict[str, Any]] = {"resync": True}
# Put in an ended follower's buffer (by identity): wakes it to raise why it ended.
_END: Final[dict[str, Any]] = {"end": True}


class HubClosed(ReadModelUnavailable):
    """The API is stopping: the follower's stream ends and its client reconnects elsewhere."""


class Lease:
    """One live connection's credential, given to every follower it opens (revocation, expiry
    and per-client limits act on leases)."""


class Follower:
    """One local follower of one channel: a bounded buffer the hub fills without waiting."""

    def __init__(self, channel: str, size: int) -> None:
        self.channel = channel
        self.resyncs = 0  # how many times it fell behind (for tests and metrics)
        self._buffer: asyncio.Queue[dict[str, Any]] = asyncio.Queue(size)
        self._ended: ReadModelUnavailable | None = None

    def offer(self, message: dict[str, Any]) -> None:
        """Take a message now, or, when the buffer is full, replace its content with RESYNC."""
        if self._ended is not None:
            return
        try:
            self._buffer.put_nowait(message)
        except asyncio.QueueFull:
            self._overflow(RESYNC)
            self.resyncs += 1

    def end(self, reason: ReadModelUnavailable) -> None:
        if self._ended is None:
            self._ended = reason
            self._overflow(_END)

    def _overflow(self, marker: dict[str, Any]) -> None:
        while not self._buffer.empty():
            self._buffer.get_nowait()
        self._buffer.put_nowait(marker)

    async def next(self, within: float) -> dict[str, Any] | None:
        """The next message (or RESYNC), None after `within` seconds of quiet; raises once the
        hub lost Redis or closed."""
        if self._ended is not None and self._buffer.empty():
            raise self._ended
        try:
            message = await asyncio.wait_for(self._buffer.get(), within)
        except TimeoutError:
            return None
        if message is _END:
            assert self._ended is not None
            raise self._ended
        return message


class Hub:
    """The process's one subscription to the change channels (`pattern`), and its followers."""

    def __init__(self, client: aioredis.Redis, pattern: str, buffer: int = BUFFER) -> None:
        self._redis = client
        self._pattern = pattern
        self._size = buffer
        self._followers: dict[str, set[Follower]] = {}
        self._ready = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def followers(self) -> int:
        return sum(len(group) for group in self._followers.values())

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="vq-fanout")

    async def close(self) -> None:
        """End every follower's stream and the subscription."""
        self._closing = True
        self._end_all(HubClosed("the API is stopping; reconnect"))
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @asynccontextmanager
    async def follow(self, channel: str, lease: Lease | None = None) -> AsyncIterator[Follower]:
        """A follower of `channel` for the block: every message published after this returns."""
        if self._closing:
            raise HubClosed("the API is stopping; reconnect")
        if not self._ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), READY_WAIT_S)
            if not self._ready.is_set():
                raise ReadModelUnavailable("not subscribed to Redis (yet)")
        follower = Follower(channel, self._size)
        self._followers.setdefault(channel, set()).add(follower)
        try:
            yield follower
        finally:
            group = self._followers.get(channel)
            if group is not None:
                group.discard(follower)
                if not group:
                    del self._followers[channel]

    async def _run(self) -> None:
        while not self._closing:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(self._pattern)
                self._ready.set()
                log.info("live push: subscribed to %s", self._pattern)
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=POLL_S
                    )
                    if message is not None and message.get("type") == "pmessage":
                        self._dispatch(message)
            except _REDIS_ERRORS as exc:
                self._ready.clear()
                detail = str(exc) or type(exc).__name__
                log.warning("live push: lost Redis (%s); followers end, retrying", detail)
                self._end_all(ReadModelUnavailable(detail))
                await asyncio.sleep(RECONNECT_S)
            finally:
                self._ready.clear()
                with contextlib.suppress(*_REDIS_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = _text(message["channel"])
        group = self._followers.get(channel)
        if not group:
            return
        try:
            data: dict[str, Any] = json.loads(message["data"])  # once, shared (read-only)
        except ValueError:
            log.warning("live push: a message on %s is not JSON; ignored", channel)
            return
        for follower in tuple(group):
            follower.offer(data)

    def _end_all(self, reason: ReadModelUnavailable) -> None:
        for group in self._followers.values():
            for follower in group:
                follower.end(reason)


def changes_pattern(prefix: str) -> str:
    """The glob matching every queue's change channel under `prefix` (layout.Keys.changes)."""
    escaped = "".join(f"\\{c}" if c in "*?[]\\" else c for c in prefix)
    return f"{escaped}:*:q:*:changes"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
