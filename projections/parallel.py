"""A rebuild split over processes: each folds and writes the queues of its part.

Folding is CPU-bound Python (the estimators project every joining ticket's wait), so one process
uses one core whatever the machine has. A queue's events are folded by one process only: the
queues are dealt to the parts by their number of events, the largest first, each to the part with
the fewest so far (queues differ by orders of magnitude; a hash would leave one part with most of
the work). Each process reads the event store once in global order and skips the other parts'
events (reading is a small part of a rebuild), and writes its queues' read models as a one-process
rebuild does. The full rebuild's deletion of what no event explains is done once, before.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import multiprocessing
import resource
import time
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.sharedctypes import Synchronized

import redis.asyncio as aioredis

from core.settings import Settings
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from projections.layout import Keys
from projections.rebuild import Progress, RebuildReport, delete_all, rebuild

# Seconds a part waits on Redis: it writes a long line (100,000 tickets) in one script.
SOCKET_TIMEOUT_S = 300.0  # as projections/cli.py REBUILD_SOCKET_TIMEOUT_S
PROGRESS_EVERY_S = 0.5

_seen: Synchronized[int] | None = None  # in a part: the events it has read, for the parent


def _started(seen: Synchronized[int]) -> None:
    global _seen
    _seen = seen


@contextlib.asynccontextmanager
async def _services(settings: Settings) -> AsyncIterator[tuple[PostgresEventStore, aioredis.Redis]]:
    pool = await open_pool(settings, min_size=1, max_size=2, wait=True)
    client = aioredis.Redis.from_url(settings.redis_dsn, socket_timeout=SOCKET_TIMEOUT_S)
    try:
        yield PostgresEventStore(pool), client
    finally:
        await client.aclose()
        await pool.close()


def deal(versions: dict[str, int], parts: int) -> list[set[str]]:
    """The queues dealt to `parts` parts by their number of events (longest processing time
    first: no part gets more than 4/3 of the best split's largest part); empty parts left out."""
    loads = [(0, k) for k in range(parts)]
    dealt: list[set[str]] = [set() for _ in range(parts)]
    for queue_id, events in sorted(versions.items(), key=lambda item: (-item[1], item[0])):
        load, k = heapq.heappop(loads)
        dealt[k].add(queue_id)
        heapq.heappush(loads, (load + events, k))
    return [part for part in dealt if part]


def _part(settings: Settings, queue_ids: set[str]) -> tuple[int, int, float]:
    """One part, in a process of its own: (queues, events) written, and its peak RSS in MB."""

    async def run() -> tuple[int, int, float]:
        read = 0

        def progress(done: int, total: int) -> None:
            nonlocal read
            if total == 0 and _seen is not None:  # events read (not the queues being written)
                with _seen.get_lock():
                    _seen.value += done - read
                read = done

        async with _services(settings) as (store, client):
            report = await rebuild(
                store,
                client,
                Keys(settings.redis_prefix),
                queue_ids,
                progress,
                retention_s=settings.analytics_retention_days * 86400,
            )
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
        return report.queues, report.events, peak_mb

    return asyncio.run(run())


async def rebuild_in_parallel(
    settings: Settings,
    jobs: int,
    queue_ids: set[str] | None = None,
    progress: Progress | None = None,
) -> RebuildReport:
    """Rebuild every queue (or those named) with `jobs` processes; `progress(events read, 0)`
    while they fold."""
    started = time.monotonic()
    async with _services(settings) as (store, client):
        if queue_ids is None:  # once, before any part writes
            await delete_all(client, Keys(settings.redis_prefix))
        versions = {
            stream: version
            for stream, _, version in await store.stream_versions()
            if queue_ids is None or stream in queue_ids
        }
    parts = deal(versions, jobs)
    if not parts:
        return RebuildReport(seconds=time.monotonic() - started)
    context = multiprocessing.get_context("spawn")  # no copy of this process's loop or sockets
    seen = context.Value("q", 0)
    report = RebuildReport()
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(
        max_workers=len(parts), mp_context=context, initializer=_started, initargs=(seen,)
    ) as pool:
        waiting = asyncio.gather(
            *(loop.run_in_executor(pool, _part, settings, part) for part in parts)
        )
        while not waiting.done():
            await asyncio.wait([waiting], timeout=PROGRESS_EVERY_S)
            if progress is not None:
                progress(seen.value // len(parts), 0)  # each part reads every event
        for queues, events, peak_mb in await waiting:
            report.queues += queues
            report.events += events
            report.peak_rss_mb = max(report.peak_rss_mb, peak_mb)
    report.seconds = time.monotonic() - started
    return report
