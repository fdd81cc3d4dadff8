"""One local follower of a channel (fanout.Hub's): a bounded buffer the hub fills without
waiting, and the markers it may find there in place of a message."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Final

from projections.unavailable import ReadModelUnavailable

# How often expired credentials are looked for (a revocation acts as soon as it is heard).
SWEEP_S: Final = 1.0
# In place of the messages a follower fell behind on: re-read the current view (by identity).
RESYNC: Final[dict[str, Any]] = {"resync": True}
# Put by the sweep in a quiet follower's buffer when it asked for keepalives (by identity).
KEEPALIVE: Final[dict[str, Any]] = {"keepalive": True}
# Put in an ended follower's buffer (by identity): wakes it to raise why it ended.
_END: Final[dict[str, Any]] = {"end": True}


class _Sent:
    """Awaitable that is done already: what a `Direct` answers for a message it finished."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # (a generator: `await SENT` returns at once)


SENT: Final = _Sent()

# Shows a message from the hub's task while the reader waits (Follower.direct): SENT when it is
# shown, else what the reader awaits before anything else (the rest of a send that had to wait);
# None: not this one, the reader takes it from the buffer as without a `direct`.
Direct = Callable[[dict[str, Any]], Awaitable[None] | None]


class Follower:
    """One local follower of one channel: a bounded buffer the hub fills without waiting.

    Cheap per message, as ten thousand of them on one process need: a deque and one future to
    wake the reader (no Task or queue machinery per message). A reader that asked for
    `keepalive`s gets KEEPALIVE from the hub's once-a-second sweep after that long without a
    message, so it waits on `waiter()` with no timer of its own either.

    Cheaper still with a `direct`: while the reader waits with nothing unshown (parked on its
    waiter, its buffer empty), the hub's `offer` hands the message to `direct`, which shows it
    there and then (a live stream writes it to its connection) and the reader is not woken at
    all; `direct` may answer None instead (not this one: it is buffered for the reader as
    without a `direct`). What `direct` could not finish (the connection's buffer full: the rest
    of its send waits for the client) becomes `pending`, the reader is woken to await it
    (`message`), and the messages after it are buffered as without a `direct`: their order is
    kept, and a slow client still falls behind into RESYNC rather than holding the hub. `direct`
    runs in the hub's task: it must not block, and what it raises is raised to the reader."""

    __slots__ = (
        "_beats",
        "_buffer",
        "_ended",
        "_loop",
        "_quiet",
        "_size",
        "_waiter",
        "channel",
        "direct",
        "pending",
        "resyncs",
        "whole",
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
        self.direct: Direct | None = None  # set by its reader (see the class)
        # Its messages are whole views (a queue's): of several, only the newest matters (its
        # reader takes `newest`), so a hub that fell behind offers it that one (Hub.handle).
        self.whole = False
        # What the reader awaits first when it wakes: the rest of a `direct` show (or its
        # failure). The reader takes it (`take_pending`) before the buffer's messages.
        self.pending: Awaitable[None] | None = None

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
        waiter = self._waiter
        if (
            self.direct is not None
            and self.pending is None
            and not self._buffer
            and waiter is not None
            and not waiter.done()
        ):  # the reader waits, everything before this shown: show it from here
            try:
                rest = self.direct(message)
            except Exception as exc:  # the reader's to raise, not the hub's
                rest = _Raise(exc)
            if rest is SENT:
                return
            if rest is not None:
                self.pending = rest
                waiter.set_result(None)
                return
        if len(self._buffer) >= self._size:
            self._overflow(RESYNC)
            self.resyncs += 1
        else:
            self._buffer.append(message)
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

    def nudge(self) -> None:
        """KEEPALIVE now, if it has keepalives and nothing waits in the buffer: its reader
        wakes (and says what changed, e.g. the read side's state, with it)."""
        if self._beats and not self._buffer and self._ended is None:
            self._quiet = 0
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

    async def message(self, newest: bool = False) -> dict[str, Any]:
        """The next message (KEEPALIVE, RESYNC or a batch message; `newest`: as `newest`),
        waiting for one; what a `direct` left unfinished is awaited first. Raises once the hub
        lost Redis or closed, or the lease ended."""
        while True:
            waiter = self.waiter()
            if waiter is not None:
                await waiter
            pending = self.take_pending()
            if pending is not None:
                await pending
            message = self.newest() if newest else self.take()
            if message is not None:
                return message

    def take_pending(self) -> Awaitable[None] | None:
        """What the reader must await before taking a message: the rest of a `direct` show."""
        pending, self.pending = self.pending, None
        return pending

    def waiter(self) -> asyncio.Future[None] | None:
        """None when a message (or the end, or a `pending`) waits already; else the future the
        hub completes when one comes. `await` it, then take the message (`newest`)."""
        if self._buffer or self.pending is not None:
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


class _Raise:
    """Awaitable that raises what a `direct` raised, in the reader's task."""

    __slots__ = ("_error",)

    def __init__(self, error: Exception) -> None:
        self._error = error

    def __await__(self) -> Generator[Any, None, None]:
        raise self._error
        yield  # (a generator: raised when awaited, not when made)
