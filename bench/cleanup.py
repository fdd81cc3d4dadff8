"""What killed benchmark runs left behind: `python -m bench.cleanup` (when no benchmark runs).

A run drops its schemas, topics and keys when it ends (bench/env.py `teardown`); one that was
killed leaves them, and a million-event phase is hundreds of megabytes. This finds every place
named as a run's phase names them (`bench_<phase>_<id>` schemas, `bench-<phase>-<id>.*` topics,
`bench:<phase>:<id>:*` keys) and drops them the way a run does. It cannot tell a running
benchmark's places from a killed one's: do not run it beside a benchmark.
"""

from __future__ import annotations

import asyncio
import re

import psycopg
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient

from bench.env import named_settings, teardown
from core.settings import Settings

_SCHEMA = re.compile(r"^bench_([a-z]+)_([0-9a-f]{10})$")
_TOPIC = re.compile(r"^bench-([a-z]+)-([0-9a-f]{10})\.")
_KEY = re.compile(rb"^bench:([a-z]+):([0-9a-f]{10}):")


async def leftovers(base: Settings) -> set[tuple[str, str]]:
    """(phase, id) of every run's phase that still has a schema, a topic or keys."""
    found: set[tuple[str, str]] = set()
    with psycopg.connect(base.pg_url) as conn:
        for (name,) in conn.execute("SELECT nspname FROM pg_namespace").fetchall():
            if match := _SCHEMA.match(name):
                found.add((match[1], match[2]))
    admin = AIOKafkaAdminClient(bootstrap_servers=base.kafka_servers)
    await admin.start()
    try:
        for topic in await admin.list_topics():
            if match := _TOPIC.match(topic):
                found.add((match[1], match[2]))
    finally:
        await admin.close()
    client = aioredis.Redis.from_url(base.redis_dsn)
    try:
        async for key in client.scan_iter(match="bench:*", count=5000):
            if hit := _KEY.match(key):
                found.add((hit[1].decode(), hit[2].decode()))
    finally:
        await client.aclose()
    return found


async def main() -> int:
    places = sorted(await leftovers(Settings()))
    for label, suffix in places:
        print(f"dropping bench_{label}_{suffix}: its schema, topics and keys")
        await teardown(named_settings(label, suffix))
    print(f"{len(places)} runs' phases dropped" if places else "nothing left behind")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
