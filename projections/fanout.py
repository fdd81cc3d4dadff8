"""One Redis pub/sub connection per API process, fanned out to every local follower.

The hub holds one pattern subscription to every queue's change channel under the prefix and a
map channel -> local followers. Each follower has a bounded buffer: the hub never waits for a
follower, so a slow one cannot delay the hub or the others. A follower whose buffer overflows
loses the buffered messages and finds a RESYNC marker instead: it re-reads the current view from
the read model (and versions tell it what it has already shown), rather than being dropped.

When the connection to Redis is lost, or the hub closes (the API stops), every follower ends
with ReadModelUnavailable: its stream ends and the client reconnects, to this or another replica,
with Last-Event-ID. The hub reconnects by itself.

The same connection listens to the revocations channel (core/revocations.py): a revoked key or
session ends the followers of every live connection (lease, leases.py) opened with it, and a
once-a-second sweep ends those whose credential expired. Their streams end as above; the
client's reconnect is refused (401).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.revocations import parse_revocation
from projections.leases import Lease as Lease
from projections.leases import Leases, LiveLimits
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
# How often expired credentials are looked for (a revocation acts as soon as it is heard).
SWEEP_S: Final = 1.0
_REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
# In place of the messages a follower fell behind on: re-read the current view (by identity).
RESYNC: Final[dict[str, Any]] = {"resync": True}
# Put by the sweep in a quiet follower's buffer when it asked for keepalives (by identity).
KEEPALIVE: Final[dict[str, Any]] = {"keepalive": True}
# Put in an ended follower's buffer (by identity): wakes it to raise why it ended.
_END: Final[dict[str, Any]] = {"end": True}


class HubClosed(ReadModelUnavailable):
    """The API is stopping: the follower's stream ends and its client reconnects elsewhere."""


class Follower:
    """One local follower of one channel: a bounded buffer the hub fills without waiting.

    Cheap per message, as ten thousand of them on one process need: a deque and one future to
    wake the reader (no Task or queue machinery per message). A reader that asked for
    `keepalive`s gets KEEPALIVE from the hub's once-a-second sweep after that long without a
    message, so it waits on `waiter()` with no timer of its own either."""

    __slots__ = (
        "_beats",
        "_buffer",
        "_ended",
        "_loop",
        "_quiet",
        "_size",
        "_waiter",
        "channel",
        "resyncs",
    )

    def __init__(
        self, channel: str, size: int, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self.channel = channel
        self.resyncs = 0  # how many times it fell behind (for tests and metrics)
        self._size = size
        self._buffer: deque[dict[str, Any]] = deque()
        self._ended: ReadModelUnavailable | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._loop = loop  # its reader's (found at the first wait when not given)
        self._beats = 0  # sweeps of quiet before a KEEPALIVE (0: none)
        self._quiet = 0  # sweeps since the last message

    def keepalive(self, seconds: float) -> None:
        """Put KEEPALIVE in the buffer after `seconds` without a message (to the hub's sweep,
        SWEEP_S), in place of the timer `next(within)` would start for every wait."""
        self._beats = max(1, math.ceil(seconds / SWEEP_S))
        self._quiet = 0

    def offer(self, message: dict[str, Any]) -> None:
        """Take a message now, or, when the buffer is full, replace its content with RESYNC."""
        if self._ended is not None:
            return
        self._quiet = 0
        if len(self._buffer) >= self._size:
            self._overflow(RESYNC)
            self.resyncs += 1
        else:
            self._buffer.append(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def beat(self) -> None:
        """One sweep of the hub: KEEPALIVE once `keepalive`'s time passed without a message
        (when nothing waits in the buffer: a message says as much)."""
        if not self._beats:
            return
        self._quiet += 1
        if self._quiet >= self._beats:
            self._quiet = 0
            if not self._buffer and self._ended is None:
                self._buffer.append(KEEPALIVE)
                self._wake()

    def end(self, reason: ReadModelUnavailable) -> None:
        if self._ended is None:
            self._ended = reason
            self._overflow(_END)
            self._wake()

    def _overflow(self, marker: dict[str, Any]) -> None:
        self._buffer.clear()
        self._buffer.append(marker)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def waiter(self) -> asyncio.Future[None] | None:
        """None when a message (or the end) waits already; else the future the hub completes
        when one comes. `await` it, then take the message (`newest`)."""
        if self._buffer:
            return None
        if self._ended is not None:
            raise self._ended
        waiter = self._waiter
        if waiter is None or waiter.done():
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            waiter = self._waiter = self._loop.create_future()
        return waiter

    def newest(self) -> dict[str, Any] | None:
        """As `take`, but only the newest of the messages waiting, those before it superseded:
        for a follower whose every message is whole (a queue's view), so that a client that
        reads slower than the queue changes gets the newest view, not a backlog. (A RESYNC
        followed by a newer message is superseded too: that message is the view now.)"""
        if len(self._buffer) > 1:
            self._overflow(self._buffer[-1])
        return self.take()

    def take(self) -> dict[str, Any] | None:
        """The oldest waiting message (KEEPALIVE, RESYNC or a batch message), None when none
        waits; raises once the hub lost Redis or closed, or the lease ended."""
        if not self._buffer:
            if self._ended is not None:
                raise self._ended
            return None
        message = self._buffer.popleft()
        if message is _END:
            assert self._ended is not None
            raise self._ended
        return message

    async def next(self, within: float) -> dict[str, Any] | None:
        """The next message (or RESYNC), None after `within` seconds of quiet (with
        `keepalive`: when the sweep says so); raises once the hub lost Redis or closed."""
        waiter = self.waiter()
        if waiter is not None:
            if self._beats:
                await waiter
            else:
                timer = waiter.get_loop().call_later(within, _quiet, waiter)
                try:
                    await waiter
                finally:
                    timer.cancel()
            if not self._buffer:
                return None  # quiet for `within` seconds
        message = self.take()
        return None if message is KEEPALIVE else message


def _quiet(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Hub:
    """The process's one subscription to the change channels (`pattern`) and to `revocations`
    (None: no revocations are heard), its followers and its live connections (`leases`)."""

    def __init__(
        self,
        client: aioredis.Redis,
        pattern: str,
        buffer: int = BUFFER,
        *,
        revocations: str | None = None,
        limits: LiveLimits | None = None,
    ) -> None:
        self._redis = client
        self._pattern = pattern
        self._revocations = revocations
        self._size = buffer
        self._followers: dict[str, set[Follower]] = {}
        self.leases = Leases(limits)
        # Told of every revocation heard (the API drops its cached key answers: a revoked key
        # stops opening anything on every replica at once, not after the cache's TTL).
        self.on_revoked: Callable[[Mapping[str, str]], None] | None = None
        self._ready = asyncio.Event()
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def followers(self) -> int:
        return sum(len(group) for group in self._followers.values())

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="vq-fanout"),
            asyncio.create_task(self._sweep(), name="vq-fanout-sweep"),
        ]

    async def close(self) -> None:
        """End every follower's stream and the subscription."""
        self._closing = True
        self._end_all(HubClosed("the API is stopping; reconnect"))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def admit(self, lease: Lease) -> None:
        """Count a live connection before it is answered: Revoked or Expired (its credential),
        TooManyStreams (its client's limit), LiveFull (this process's), HubClosed (stopping).
        The caller releases it when the connection ends."""
        if self._closing:
            raise HubClosed("the API is stopping; reconnect")
        self.leases.admit(lease)

    def release(self, lease: Lease) -> None:
        self.leases.release(lease)

    @asynccontextmanager
    async def follow(self, channel: str, lease: Lease | None = None) -> AsyncIterator[Follower]:
        """A follower of `channel` for the block: every message published after this returns.
        With a `lease`, it ends when the lease does (a lease not admitted yet is admitted for
        the block)."""
        if self._closing:
            raise HubClosed("the API is stopping; reconnect")
        if not self._ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), READY_WAIT_S)
            if not self._ready.is_set():
                raise ReadModelUnavailable("not subscribed to Redis (yet)")
        own = lease is not None and not self.leases.admitted(lease)
        if lease is not None and own:
            self.admit(lease)
        follower = Follower(channel, self._size, asyncio.get_running_loop())
        try:
            if lease is not None:
                self.leases.attach(lease, follower)
            self._followers.setdefault(channel, set()).add(follower)
            yield follower
        finally:
            group = self._followers.get(channel)
            if group is not None:
                group.discard(follower)
                if not group:
                    del self._followers[channel]
            if lease is not None:
                self.leases.detach(lease, follower)
                if own:
                    self.release(lease)

    async def _run(self) -> None:
        while not self._closing:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(self._pattern)
                if self._revocations is not None:
                    await pubsub.subscribe(self._revocations)
                self._ready.set()
                log.info("live push: subscribed to %s", self._pattern)
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=POLL_S
                    )
                    if message is None:
                        continue
                    if message.get("type") == "pmessage":
                        self._dispatch(message)
                    elif message.get("type") == "message":
                        self._revoke(message)
            except _REDIS_ERRORS as exc:
                self._ready.clear()
                detail = str(exc) or type(exc).__name__
                log.warning("live push: lost Redis (%s); followers end, retrying", detail)
                self._end_all(ReadModelUnavailable(detail))
                await asyncio.sleep(RECONNECT_S)
            finally:
                self._ready.clear()
                with contextlib.suppress(*_REDIS_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]

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
        for follower in group:  # (offering runs no follower: none joins or leaves meanwhile)
            follower.offer(data)

    def _revoke(self, message: dict[str, Any]) -> None:
        revocation = parse_revocation(message["data"])
        if not revocation:
            log.warning("live push: a revocation message names nothing known; ignored")
            return
        if self.on_revoked is not None:
            self.on_revoked(revocation)
        ended = self.leases.revoke(revocation)
        if ended:
            log.info("live push: %s revoked: %d live connection(s) end", revocation, ended)

    async def _sweep(self) -> None:
        """End the connections whose credential expired, release abandoned ones (over a heap of
        expiries and the leases without a follower: not every lease), and give the followers
        that asked for them their keepalives: one pass a second."""
        while True:
            await asyncio.sleep(SWEEP_S)
            self.leases.sweep()
            for group in self._followers.values():
                for follower in group:
                    follower.beat()

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
