"""Group commit: the appends of concurrent commands in one transaction.

Each append costs the server a commit (a WAL flush) and the client a statement; under load most
of both is overhead. While one group's statement is on its way, the appends that arrive wait;
when it returns, they all go in the next one (no timer: a lone command goes at once, and the
group grows with the load, up to MAX_GROUP). The statement (vq_append_group, migration 0016)
takes every stream's lock in one order, then writes each append in a subtransaction of its own:
one that fails (another writer got there first, its Idempotency-Key taken) fails alone, with the
error it would have had alone, and the others commit.

The service layer gives a stream one command at a time (its turn), so one group holds at most
one append per stream from this process, and the order of a queue's commands is the order of
their turns.
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
IDEMPOTENCY_CONSTRAINT: Final = "idempotency_keys_pkey"

UNIQUE_VIOLATION: Final = "23505"

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
    def __init__(self, run: RunGroup, max_group: int = MAX_GROUP) -> None:
        self._run = run
        self._max = max_group
        self._waiting: list[_Waiting] = []
        self._flushing: asyncio.Task[None] | None = None
        self.groups = 0  # statements sent (the tests check that appends shared them)

    async def append(self, document: str, streams: Sequence[str]) -> None:
        """Write one append (a vq_append document) with whatever else is waiting; raises what
        it would alone: ConcurrencyError, IdempotencyKeyTaken, StoreUnavailable."""
        waiting = _Waiting(document, streams)
        self._waiting.append(waiting)
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush(), name="vq-group-commit")
        await waiting.done

    async def _flush(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting[: self._max], self._waiting[self._max :]
                await self._commit(group)
        finally:
            self._flushing = None

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
