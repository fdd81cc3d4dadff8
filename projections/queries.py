"""Reading the read models from Redis: queues, a page of a waiting line, one ticket.

Every read that combines keys is one Lua script or one command, so it sees the read model at one
stream version: the projector writes a whole batch in one script, and nothing runs in between.

A Redis that is full (maxmemory with `noeviction`) refuses every read of a view (`OOM`, a 503):
the workers cannot write then, so the views have stopped following the queues, and a view read
now would be stale data presented as fresh (README, "Read your writes"). A queue is read in a
MULTI, whose queued commands a full Redis refuses; the scripts declare flags (`#!lua`) but not
`no-writes` (which implies `allow-oom`), so a full Redis refuses them too, before they run. A
script without a `#!lua` line (Redis' compatibility mode) would be served: a full Redis checks
only the writes it calls.
Read-your-writes waits subscribe to the queue's change channel (`Keys.changes`) and re-check
after each message, so a waiting reader costs nothing while nothing happens.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import redis.asyncio as aioredis
from cachetools import LRUCache

from core.revocations import revocations_channel
from projections import replay
from projections.estimates import NEWCOMER
from projections.fanout import Follower, Hub, Lease, changes_pattern
from projections.layout import Keys
from projections.read_scripts import PAGE, TICKET
from projections.unavailable import ReadModelUnavailable as ReadModelUnavailable
from projections.unavailable import redis_errors as redis_errors

# What a change channel gives its follower: `next(within)` is the next batch message, RESYNC (it
# fell behind: re-read the view), or None after `within` seconds of quiet.
Subscription = Follower


class SystemOfRecord(Protocol):
    """What the query side asks the event store, only where Redis cannot answer: whose a ticket
    is (a ticket token names no tenant), and whether a queue or ticket that Redis does not hold
    (yet) exists at all, so an unknown id is a 404 at once rather than after the whole wait."""

    async def ticket_location(self, ticket_id: str) -> tuple[str, str] | None: ...

    async def stream_owner(self, stream_id: str) -> tuple[str, int] | None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


# A transfer chain longer than this is a loop or damage: stop following it.
MAX_TRANSFER_HOPS = 8
# While waiting on a channel, re-read at least this often: a rebuild writes without publishing.
RECHECK_S = 0.5
_TENANT_CACHE_MAX = 10_000


class StaleRead(Exception):
    """The read model did not reach the asked version within the wait."""

    def __init__(self, version: int) -> None:
        super().__init__(f"the read model is at version {version}")
        self.version = version


@dataclass(frozen=True, slots=True)
class QueueRead:
    queue_id: str
    version: int
    view: dict[str, Any]
    newcomer: dict[str, Any] | None = None  # the wait range of one who joins now


@dataclass(frozen=True, slots=True)
class TicketRead:
    queue_id: str  # the queue that holds the ticket now (after following transfers)
    version: int  # that queue's read model version
    view: dict[str, Any]
    position: int | None
    eta: dict[str, Any] | None = None  # its current wait range (moments; see estimates.py)
    queue_status: str | None = None  # while it waits: its queue's (open, paused, closed)


@dataclass(frozen=True, slots=True)
class WaitingPage:
    queue_id: str
    version: int
    total: int
    offset: int
    tickets: list[TicketRead]


class ReadModels:
    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        record: SystemOfRecord,
        clock: Callable[[], datetime] = _utcnow,
        hub: Hub | None = None,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._record = record
        self.now = clock  # the product's clock: wait ranges are shown as seconds from now
        self._ticket_script = client.register_script(TICKET)
        self._page_script = client.register_script(PAGE)
        self._tenants: LRUCache[str, str] = LRUCache(_TENANT_CACHE_MAX)
        self._hub = hub  # the process's one subscription to the change channels
        self._own_hub = hub is None  # made (and closed) here on first use

    async def queues(self, tenant: str) -> list[QueueRead]:
        async with redis_errors():
            ids = [_text(i) for i in await self._redis.zrange(self._keys.queues(tenant), 0, -1)]
            pipe = self._redis.pipeline(transaction=True)
            for queue_id in ids:
                pipe.hmget(self._keys.queue(tenant, queue_id), "version", "view")
                pipe.hget(self._keys.eta(tenant, queue_id), NEWCOMER)
            rows = await pipe.execute() if ids else []
        return [
            read
            for index, queue_id in enumerate(ids)
            if (read := _queue_read(queue_id, rows[2 * index], rows[2 * index + 1])) is not None
        ]

    async def queue(self, tenant: str, queue_id: str) -> QueueRead | None:
        async with redis_errors():
            pipe = self._redis.pipeline(transaction=True)  # one instant: MULTI/EXEC
            pipe.hmget(self._keys.queue(tenant, queue_id), "version", "view")
            pipe.hget(self._keys.eta(tenant, queue_id), NEWCOMER)
            row, newcomer = await pipe.execute()
        return _queue_read(queue_id, row, newcomer)

    @property
    def redis(self) -> aioredis.Redis:
        return self._redis

    @property
    def keys(self) -> Keys:
        return self._keys

    async def version(self, tenant: str, queue_id: str) -> int:
        async with redis_errors():
            value = await self._redis.hget(self._keys.queue(tenant, queue_id), "version")
        return int(value) if value is not None else 0

    async def waiting(
        self, tenant: str, queue_id: str, offset: int, limit: int
    ) -> WaitingPage | None:
        keys = [
            self._keys.queue(tenant, queue_id),
            self._keys.line(tenant, queue_id),
            self._keys.eta(tenant, queue_id),
        ]
        args: list[str | int] = [offset, limit, self._keys.ticket_prefix(tenant, queue_id)]
        async with redis_errors():
            result = await self._page_script(keys=keys, args=args)
        if not result:
            return None
        version, total, members, views = int(result[0]), int(result[1]), result[2], result[3]
        etas = result[4] or [None] * len(members)
        status = _text(result[5]) if result[5] else None
        tickets = []
        for index, (raw, eta) in enumerate(zip(views, etas, strict=True)):
            if not raw:  # a line member without its view: damage (a key evicted, deleted)
                continue  # left out, not half shown (its view is what a page lists)
            loaded = json.loads(eta) if eta else None
            view = json.loads(raw)
            tickets.append(TicketRead(queue_id, version, view, index + offset + 1, loaded, status))
        return WaitingPage(queue_id, version, int(total), offset, tickets)

    async def ticket(self, tenant: str, ticket_id: str) -> TicketRead | None:
        """The ticket where it is now: from the queue it first joined, through its transfers.

        When a transfer's destination has not caught up yet, the source's view ("transferred")
        is the answer: true, and the newest thing the read model knows. A ticket its first queue
        no longer holds (ended there 5,000 finished tickets ago, FINISHED_RETENTION) is looked
        for where the system of record says it is now: a transfer may have taken it on.
        """
        async with redis_errors():
            home = await self._redis.get(self._keys.home(tenant, ticket_id))
        if home is None:
            return None
        found = await self._follow(tenant, _text(home), ticket_id)
        if found is None:
            located = await self._record.ticket_location(ticket_id)
            if located is not None and located[0] == tenant and located[1] != _text(home):
                found = await self._follow(tenant, located[1], ticket_id)
        return found

    async def _follow(self, tenant: str, first: str, ticket_id: str) -> TicketRead | None:
        queue_id: str | None = first
        found: TicketRead | None = None
        async with redis_errors():
            for _ in range(MAX_TRANSFER_HOPS):
                if queue_id is None:
                    break
                hop = await self._hop(tenant, queue_id, ticket_id)
                if hop is None:
                    break
                found = hop
                moved_to = hop.view.get("transferred_to")
                queue_id = moved_to if hop.view.get("status") == "transferred" else None
        return found

    async def _hop(self, tenant: str, queue_id: str, ticket_id: str) -> TicketRead | None:
        keys = [
            self._keys.queue(tenant, queue_id),
            self._keys.ticket(tenant, queue_id, ticket_id),
            self._keys.line(tenant, queue_id),
            self._keys.eta(tenant, queue_id),
        ]
        version, raw, rank, eta, status = await self._ticket_script(keys=keys, args=[ticket_id])
        if raw is None:
            return None
        position = None if rank is None else int(rank) + 1
        return TicketRead(
            queue_id,
            int(version or 0),
            json.loads(raw),
            position,
            json.loads(eta) if eta else None,
            _text(status) if status else None,
        )

    async def ticket_tenant(self, ticket_id: str) -> str | None:
        """The tenant a ticket belongs to (never changes, so it is remembered)."""
        tenant = self._tenants.get(ticket_id)
        if tenant is None:
            found = await self._record.ticket_location(ticket_id)
            if found is None:
                return None
            tenant = self._tenants[ticket_id] = found[0]
        return tenant

    @asynccontextmanager
    async def subscription(
        self, tenant: str, queue_id: str, lease: Lease | None = None
    ) -> AsyncIterator[Subscription]:
        """Follow the queue's change channel through the process's hub (no connection of its
        own): every batch message published from now on, or RESYNC where it fell behind."""
        if self._hub is None:
            prefix = self._keys.prefix
            self._hub = Hub(
                self._redis, changes_pattern(prefix), revocations=revocations_channel(prefix)
            )
            self._hub.start()
        async with self._hub.follow(self._keys.changes(tenant, queue_id), lease) as follower:
            yield follower

    async def recent_changes(
        self, tenant: str, queue_id: str, after: int, upto: int
    ) -> list[dict[str, Any]] | None:
        """The queue's changes after..upto, for a follower's replay (None: not all kept)."""
        async with redis_errors():
            return await replay.recent_changes(
                self._redis, self._keys, tenant, queue_id, after, upto
            )

    async def aclose(self) -> None:
        """Close the hub this made itself (one given to it is its owner's to close)."""
        if self._own_hub and self._hub is not None:
            await self._hub.close()
            self._hub = None

    async def _wait(
        self,
        tenant: str,
        queue_id: str,
        deadline: float,
        check: Callable[[], Awaitable[bool]],
    ) -> None:
        """Return once `check()` holds or the deadline passed; `check` runs after subscribing,
        after every message and every RECHECK_S, so no change is missed and nothing spins."""
        async with self.subscription(tenant, queue_id) as sub:
            while not await check():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                await sub.next(min(remaining, RECHECK_S))

    async def queue_at(
        self, tenant: str, queue_id: str, min_version: int | None, wait: float
    ) -> QueueRead | None:
        """The queue once its read model reached `min_version`; StaleRead past the wait."""
        found = await self.queue(tenant, queue_id)
        if min_version is None or (found is not None and found.version >= min_version):
            return found
        written = await self._written(tenant, queue_id)
        if written is None:
            return None
        if min_version > written:  # never written: waiting would not help
            raise StaleRead(found.version if found is not None else 0)
        deadline = time.monotonic() + wait

        async def fresh() -> bool:
            nonlocal found
            found = await self.queue(tenant, queue_id)
            return found is not None and found.version >= min_version

        if wait > 0:
            await self._wait(tenant, queue_id, deadline, fresh)
        if found is not None and found.version < min_version:
            raise StaleRead(found.version)
        return found  # None: the queue is not there even after the wait

    async def ticket_at(
        self, tenant: str, ticket_id: str, min_version: int | None, wait: float
    ) -> TicketRead | None:
        """The ticket, read in the queue that holds it now, once that queue's read model reached
        `min_version`; StaleRead past the wait.

        Versions are per queue. A transfer answers the receiving queue's version while the read
        model may still show the ticket in the queue it left, whose own version can be anything;
        so the system of record says which queue holds the ticket (right after an enqueue, also
        that it exists at all), and only a read of the ticket in that queue counts. None when
        the read model of that queue holds all the record has written and not the ticket (it
        ended thousands of tickets ago, FINISHED_RETENTION): no wait would bring it."""
        found = await self.ticket(tenant, ticket_id)
        if min_version is None:
            return found
        located = await self._record.ticket_location(ticket_id)
        if located is None or located[0] != tenant:
            return None
        holder = located[1]

        def fresh(read: TicketRead | None) -> bool:
            return read is not None and read.queue_id == holder and read.version >= min_version

        if fresh(found):
            return found
        written, gone = await self._written(tenant, holder) or 0, False  # 0: no such queue

        async def settled() -> bool:
            nonlocal found, gone
            found = await self.ticket(tenant, ticket_id)
            if found is None and await self.version(tenant, holder) >= written > 0:
                found = await self.ticket(tenant, ticket_id)  # folded between the reads?
                gone = found is None
            return gone or fresh(found)

        if min_version <= written:  # else waiting would not help
            await self._wait(tenant, holder, time.monotonic() + wait, settled)  # >= one check
        if gone or fresh(found):  # gone: the views hold all the record has, not this ticket
            return None if gone else found
        if found is not None and found.queue_id == holder:
            raise StaleRead(found.version)
        raise StaleRead(await self.version(tenant, holder))

    async def _written(self, tenant: str, queue_id: str) -> int | None:
        """The version the system of record has of the tenant's queue (None: no such queue):
        for a version past it, waiting for the read model would not help."""
        written = await self._record.stream_owner(queue_id)
        return written[1] if written is not None and written[0] == tenant else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _queue_read(queue_id: str, row: list[Any], newcomer: Any) -> QueueRead | None:
    version, view = row
    if view is None:
        return None
    return QueueRead(
        queue_id, int(version or 0), json.loads(view), json.loads(newcomer) if newcomer else None
    )
