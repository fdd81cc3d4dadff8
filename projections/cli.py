"""`vq projections rebuild|check`: operate the read models."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
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
        help="instead: delete the read models and rewind the workers' consumer group to the "
        "start of the topic (stop the workers first; they rebuild when started)",
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
        return asyncio.run(_rewind(settings))
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


async def _rewind(settings: Settings) -> int:
    """Delete the read models and commit offset 0 for the workers' group on every partition."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    from projections.rebuild import delete_all

    async def drop(store: Any, client: Any, keys: Any) -> int:
        await delete_all(client, keys)
        return 0

    await _with_services(settings, drop)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        group_id=settings.worker_group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(settings.events_topic) or set()
        if not partitions:
            await consumer.stop()
            print(f"vq projections: topic {settings.events_topic} not found", file=sys.stderr)
            return 1
        start = {
            TopicPartition(settings.events_topic, p): OffsetAndMetadata(0, "") for p in partitions
        }
        consumer.assign(list(start))  # manual assignment: commit without joining the group
        await consumer.commit(start)
    finally:
        await consumer.stop()
    print(
        f"read models deleted; group {settings.worker_group} rewound on "
        f"{len(partitions)} partitions: start the workers to rebuild from Kafka"
    )
    return 0
