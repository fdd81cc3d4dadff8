"""One Redis pub/sub connection per API process, fanned out to every local follower.

The hub holds one pattern subscription to every queue's change channel under the prefix and a
map channel -> local followers. Each follower has a bounded buffer: the hub never waits for a
follower, so a slow one cannot delay the hub or the others. A follower whose buffer overflows
loses the buffered messages and finds a RESYNC marker instead: it re-reads the current view from
the read model (and versions tell it what it has already shown), rather than being dropped.
A follower whose reader waits is offered the message to show there and then (live_follower.py,
`direct`): a push costs a call in the hub's task, not a task's wake-up. The hub reads every
message waiting at once; when several wait (it fell behind), followers of whole views get only
the newest of their channel's (`handle`).

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
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Final

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.revocations import parse_revocation
from projections.leases import Lease as Lease
from projections.leases import Leases, LiveLimits
from projections.live_follower import KEEPALIVE as KEEPALIVE
from projections.live_follower import RESYNC as RESYNC
from projections.live_follower import SWEEP_S as SWEEP_S
from projections.live_follower import Follower as Follower
from projections.read_side import ReadSide
from projections.unavailable import ReadModelUnavailable, cannot_serve

log = logging.getLogger("vq.fanout")

# Messages a follower may have waiting before it is told to resync instead.
BUFFER: Final = 64
# How long a new follower waits for the hub's subscription (at start, after a Redis restart).
READY_WAIT_S: Final = 2.0
# Between attempts to subscribe again after Redis went away.
RECONNECT_S: Final = 1.0
# How long one read of the pub/sub connection waits (the hub notices a close this often).
POLL_S: Final = 1.0
# How long close() waits for the subscription's task once cancelled (see Hub._run).
CLOSE_WAIT_S: Final = 5.0
# Messages handled at once at most when more are waiting (Hub.handle).
DRAIN: Final = 256
_REDIS_ERRORS = (RedisError, OSError)


class HubClosed(ReadModelUnavailable):
    """The API is stopping: the follower's stream ends and its client reconnects elsewhere."""


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
        self._released = asyncio.Event()  # set when closing and no connection is left
        self._tasks: list[asyncio.Task[None]] = []
        self.read_side = ReadSide()  # whether the read models keep up (query_api/freshness.py)

    @property
    def subscribed(self) -> bool:
        """Whether the hub reads Redis now (a follow waits READY_WAIT_S for it, then is a 503)."""
        return self._ready.is_set()

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
        # Bounded: a subscription read that does not end (see _run) must not hold the API's
        # shutdown (seen: a test's set-up waiting 17 minutes on it).
        if not self._tasks:
            return
        ended, stuck = await asyncio.wait(self._tasks, timeout=CLOSE_WAIT_S)
        for task in stuck:
            log.warning("live push: %s did not end within %.0f s of its cancel", task, CLOSE_WAIT_S)
        for task in ended:
            if not task.cancelled():
                task.result()  # what it ended with, as awaiting it said before

    def admit(self, lease: Lease) -> None:
        """Count a live connection before it is answered: Revoked or Expired (its credential),
        TooManyStreams (its client's limit), LiveFull (this process's), HubClosed (stopping).
        The caller releases it when the connection ends."""
        if self._closing:
            raise HubClosed("the API is stopping; reconnect")
        self.leases.admit(lease)

    def release(self, lease: Lease) -> None:
        self.leases.release(lease)
        if self._closing and not len(self.leases):
            self._released.set()

    async def drained(self) -> None:
        """Once closed: until every live connection has ended and released its lease."""
        if len(self.leases):
            await self._released.wait()

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
                # Not `while True`: redis-py can swallow a cancellation that lands inside
                # get_message (the task then reads on, "cancelling" for ever, and close() with
                # it); the flag close() sets ends the loop within POLL_S whatever happened.
                while not self._closing:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=POLL_S
                    )
                    if message is None:
                        continue
                    read = [message]
                    while len(read) < DRAIN:  # more waiting: the hub is behind
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=0
                        )
                        if message is None:
                            break
                        read.append(message)
                    self.handle(read)
            except _REDIS_ERRORS as exc:
                if not cannot_serve(exc):  # down, or busy, loading...: subscribe again later
                    raise
                self._ready.clear()
                detail = str(exc) or type(exc).__name__
                log.warning("live push: lost Redis (%s); followers end, retrying", detail)
                self._end_all(ReadModelUnavailable(detail))
                await asyncio.sleep(RECONNECT_S)
            finally:
                self._ready.clear()
                with contextlib.suppress(*_REDIS_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]

    def handle(self, messages: list[dict[str, Any]]) -> None:
        """Messages read from the subscription, in order; when several were waiting (the hub
        fell behind: the process is busy), a follower of whole views (Follower.whole) gets
        only the newest of its channel's, those before it superseded: a busy process sheds
        pushes nobody would see for long, rather than falling further behind."""
        newest: dict[str, int] = {}
        if len(messages) > 1:
            for index, message in enumerate(messages):
                if message.get("type") == "pmessage":
                    newest[_text(message["channel"])] = index
        for index, message in enumerate(messages):
            kind = message.get("type")
            if kind == "pmessage":
                channel = _text(message["channel"])
                self._dispatch(channel, message["data"], newest.get(channel, index) == index)
            elif kind == "message":
                self._revoke(message)

    def _dispatch(self, channel: str, raw: Any, newest: bool) -> None:
        group = self._followers.get(channel)
        if not group or not (newest or any(not follower.whole for follower in group)):
            return
        try:
            data: dict[str, Any] = orjson.loads(raw)  # once, shared (read-only)
        except orjson.JSONDecodeError:
            log.warning("live push: a message on %s is not JSON; ignored", channel)
            return
        # A copy: an offer may show the message there and then (Follower.direct), and what that
        # runs must not change the set under the loop (it should not; this makes sure).
        for follower in tuple(group):
            if newest or not follower.whole:
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

    def read_side_judged(self, delayed_since: datetime | None) -> None:
        """The read side's new state (None: it keeps up): when it changed, every idle follower
        that has keepalives is woken with one now, and its reader says the new state."""
        if not self.read_side.judged(delayed_since):
            return
        for group in self._followers.values():
            for follower in group:
                follower.nudge()

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
