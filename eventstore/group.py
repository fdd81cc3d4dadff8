"""Group commit: the appends of concurrent commands in one transaction.

Each append costs the server a commit (a WAL flush) and the client a statement; under load most
of both is overhead. Up to IN_FLIGHT groups are on their way at once (one keeps one server
process busy; the second lets the server work on one while the client builds the next and the
first one's commit flushes); the appends that arrive meanwhile wait, and when a group returns
they go in the next one (no timer: a lone command goes at once, and groups grow with the load,
up to MAX_GROUP). What is waiting is shared between the senders that are free, so that a burst
goes out as two statements rather than one while the other sender idles. An append that names
a stream already on its way in another group waits for it (and so does every later append of
that stream): a stream's appends are written in the order they were asked for, never in two
transactions at once (two of one stream may share a group, in order). The statement
(vq_append_group, migrations 0016 and 0020) takes every stream's lock in one order (so two groups
on their way, or two processes, never deadlock), then writes the whole group set-based (one
statement per table); if any append would fail, that is undone and each append is written in a
subtransaction of its own: one that fails (another writer got there first, its Idempotency-Key
taken) fails alone, with the error it would have had alone, and the others commit. A group of one
is sent as a plain append (eventstore/append.py `append_alone`).

The service layer gives a stream one command at a time (its turn), so the order of a queue's
commands is the order of their turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from eventstore.errors import (
    ConcurrencyError,
    EventStoreError,
    IdempotencyKeyTaken,
    StoreUnavailable,
)

# Appends in one statement at most (a bound on its size and on the transaction's locks).
MAX_GROUP: Final = 200
# Groups on their way at once. `BENCH_ONLY=append python -m bench` (16 writers), two runs each:
# one 3,301 / 2,965 appends/s of one event and 8,328 / 8,212 events/s in appends of ten; two
# 3,712 / 3,599 and 11,812 / 12,644. Three and four were no better than two (smaller groups).
IN_FLIGHT: Final = 2
IDEMPOTENCY_CONSTRAINT: Final = "idempotency_keys_pkey"

UNIQUE_VIOLATION: Final = "23505"
# A deadlock (two groups on their way that each insert an Idempotency-Key the other inserted
# first: a client sending the same requests twice, crosswise) or a serialization failure: the
# server undid the append, which another try may make.
RETRIED: Final = frozenset({"40P01", "40001"})

# Runs one group: the documents (eventstore/append.py `append_document`), in order; per
# document None (written) or what failed it ({"code": SQLSTATE, "constraint", "message"}).
# Raises StoreUnavailable.
RunGroup = Callable[[list[str]], Awaitable[list[dict[str, str] | None]]]


@dataclass(slots=True)
class _Waiting:
    document: str
    streams: Sequence[str]
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommitter:
    def __init__(
        self, run: RunGroup, max_group: int = MAX_GROUP, in_flight: int = IN_FLIGHT
    ) -> None:
        self._run = run
        self._max = max_group
        self._senders = max(in_flight, 1)
        self._waiting: list[_Waiting] = []
        self._flushers: set[asyncio.Task[None]] = set()
        self._sending = 0  # groups on their way
        self._busy: set[str] = set()  # the streams of the groups on their way
        self.groups = 0  # statements sent (the tests check that appends shared them)

    async def append(self, document: str, streams: Sequence[str]) -> None:
        """Write one append (a vq_append document) with whatever else is waiting; raises what
        it would alone: ConcurrencyError, IdempotencyKeyTaken, StoreUnavailable."""
        waiting = _Waiting(document, streams)
        self._waiting.append(waiting)
        if len(self._flushers) < self._senders:
            self._flushers.add(asyncio.create_task(self._flush(), name="vq-group-commit"))
        await waiting.done

    async def _flush(self) -> None:
        try:
            while group := self._take():
                streams = {stream for waiting in group for stream in waiting.streams}
                self._sending += 1
                self._busy |= streams
                try:
                    await self._commit(group)
                finally:
                    self._sending -= 1
                    self._busy -= streams
                # A turn of the loop first: the callers just answered may append again, and
                # go in this next group rather than wait behind a small one.
                await asyncio.sleep(0)
        finally:  # at once (not in a done callback): the next append must see it gone
            task = asyncio.current_task()
            if task is not None:
                self._flushers.discard(task)

    def _take(self) -> list[_Waiting]:
        """The next group: its share of what waits (split between the free senders), in order,
        leaving what names a stream on its way (and everything after it of that stream). An
        append of a stream already in the group joins it past its share (it would only wait)."""
        if not self._waiting:
            return []
        share = -(-len(self._waiting) // max(self._senders - self._sending, 1))
        group: list[_Waiting] = []
        kept: list[_Waiting] = []
        held = set(self._busy)  # streams whose appends wait: order is kept per stream
        taken: set[str] = set()
        for waiting in self._waiting:
            free = held.isdisjoint(waiting.streams) and len(group) < self._max
            if free and (len(group) < share or not taken.isdisjoint(waiting.streams)):
                group.append(waiting)
                taken.update(waiting.streams)
            else:
                kept.append(waiting)
                held.update(waiting.streams)
        self._waiting = kept
        return group

    async def _commit(self, group: list[_Waiting]) -> None:
        try:
            results = await self._run([waiting.document for waiting in group])
        except StoreUnavailable as exc:
            for waiting in group:
                _settle(waiting.done, StoreUnavailable(str(exc)))
            return
        except BaseException as exc:  # a bug, or this task cancelled: nobody waits forever
            for waiting in group:
                _settle(waiting.done, StoreUnavailable(f"the append failed: {exc!r}"))
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        self.groups += 1
        for waiting, failed in zip(group, results, strict=True):
            _settle(waiting.done, None if failed is None else _error(failed, waiting.streams))


def _error(failed: dict[str, str], streams: Sequence[str]) -> EventStoreError:
    """What the append alone would have raised."""
    if failed.get("code") in RETRIED:  # decided again by the service layer, after catching up
        return ConcurrencyError(",".join(streams), -1)
    if failed.get("code") != UNIQUE_VIOLATION:
        return EventStoreError(f"the append was refused: {failed.get('message', failed)}")
    if failed.get("constraint") == IDEMPOTENCY_CONSTRAINT:
        return IdempotencyKeyTaken(failed.get("message", ""))
    # A stream's version, a new stream's id: another writer got there first.
    return ConcurrencyError(",".join(streams), -1)


def _settle(done: asyncio.Future[None], outcome: BaseException | None) -> None:
    if done.done():  # its caller was cancelled: the append happened (or not) all the same
        return
    if outcome is None:
        done.set_result(None)
    else:
        done.set_exception(outcome)
