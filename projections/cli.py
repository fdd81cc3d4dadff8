"""`vq projections rebuild|check`: operate the read models."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

from core.settings import Settings, get_settings

# Seconds a rebuild waits on Redis: it writes a long line (100,000 tickets) in one script.
REBUILD_SOCKET_TIMEOUT_S = 300


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    projections = sub.add_parser("projections", help="rebuild or check the Redis read models")
    actions = projections.add_subparsers(
        dest="projections_command", metavar="ACTION", required=True
    )
    rebuild = actions.add_parser("rebuild", help="rewrite the read models from the event store")
    rebuild.add_argument("--queue", action="append", help="only this queue (repeatable)")
    rebuild.add_argument(
        "--jobs",
        type=_jobs,
        default=min(os.cpu_count() or 1, 4),
        help="processes folding queues side by side (default: the CPUs, at most 4)",
    )
    rebuild.add_argument(
        "--from-kafka",
        action="store_true",
        help="instead: rewind the workers' consumer group to the start of the topic and delete "
        "the read models (refused while the group has members: stop the workers first; they "
        "rebuild when started)",
    )
    rebuild.set_defaults(func=_rebuild)
    check = actions.add_parser("check", help="compare the read models with a fold of the events")
    check.add_argument("--queue", action="append", help="only this queue (repeatable)")
    check.set_defaults(func=_check)


async def _with_services(settings: Settings, work: Callable[..., Awaitable[int]]) -> int:
    import redis.asyncio as aioredis

    from eventstore.pool import open_pool
    from eventstore.postgres import PostgresEventStore
    from projections.layout import Keys

    pool = await open_pool(settings, min_size=1, max_size=2, wait=True)
    client = aioredis.Redis.from_url(settings.redis_dsn, socket_timeout=REBUILD_SOCKET_TIMEOUT_S)
    try:
        return await work(PostgresEventStore(pool), client, Keys(settings.redis_prefix))
    finally:
        await client.aclose()
        await pool.close()


def _jobs(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("between 1 and 64")
    return value


def _rebuild(args: argparse.Namespace) -> int:
    from projections.parallel import rebuild_in_parallel
    from projections.rebuild import RebuildReport, progress_bar, rebuild

    settings = get_settings()
    if args.from_kafka:
        from projections.rewind import rebuild_from_kafka

        return asyncio.run(rebuild_from_kafka(settings))
    queues = set(args.queue) if args.queue else None
    jobs = 1 if queues is not None and len(queues) == 1 else args.jobs

    async def work(store: Any, client: Any, keys: Any) -> int:
        report = await rebuild(
            store,
            client,
            keys,
            queues,
            progress_bar("rebuild"),
            retention_s=settings.analytics_retention_days * 86400,
        )
        return _rebuilt(report)

    def _rebuilt(report: RebuildReport) -> int:
        rate = report.events / max(report.seconds, 1e-9)
        print(
            f"\nrebuilt {report.queues} queues from {report.events:,} events "
            f"in {report.seconds:.1f}s ({rate:,.0f} events/s, {jobs} process(es))"
        )
        return 0

    if jobs > 1:
        progress = progress_bar(f"rebuild ({jobs} processes)")
        return _rebuilt(asyncio.run(rebuild_in_parallel(settings, jobs, queues, progress)))
    return asyncio.run(_with_services(settings, work))


def _check(args: argparse.Namespace) -> int:
    from projections.rebuild import check

    settings = get_settings()
    queues = set(args.queue) if args.queue else None

    async def work(store: Any, client: Any, keys: Any) -> int:
        report = await check(store, client, keys, queues)
        for difference in report.differences:
            print(difference)
        print(f"checked {report.queues} queues: {len(report.differences)} differences")
        return 1 if report.differences else 0

    return asyncio.run(_with_services(settings, work))
