"""The benchmark's own names on the local stack: a fresh schema, topic prefix and Redis prefix.

Never the demo's `vq` schema: everything is made under `bench_<hex>` names and dropped at the end
(`BENCH_KEEP=1` keeps it for a look afterwards).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import redis.asyncio as aioredis
from psycopg import sql

from core.settings import Settings
from domain.estimation import native
from eventstore.migrate import migrate


def fresh_settings(label: str) -> Settings:
    """Settings (from the environment, as `vq` reads them) naming fresh places of our own."""
    return named_settings(label, uuid.uuid4().hex[:10])


def named_settings(label: str, suffix: str) -> Settings:
    """The settings of one run's phase: its schema, topics and keys (bench/cleanup.py finds
    those of runs that were killed by these names)."""
    base = Settings()
    return Settings(
        database_url=base.pg_url,
        redis_url=base.redis_dsn,
        kafka_bootstrap=base.kafka_servers,
        db_schema=f"bench_{label}_{suffix}",
        topic_prefix=f"bench-{label}-{suffix}",
        redis_prefix=f"bench:{label}:{suffix}",
        kafka_partitions=base.kafka_partitions,
        aging_interval_s=base.aging_interval_s,
        token_secret="bench-token-secret-0123456789abcdef",
        # The load generator is one client with a few keys at up to thousands of commands a
        # second: the limiter still runs (its Redis cost is in the figures), it refuses nothing.
        rate_limit_per_minute=10_000_000,
    )


def prepare(settings: Settings) -> None:
    migrate(settings.pg_url, settings.db_schema)


async def create_topics(settings: Settings) -> None:
    from deploy.topics import aensure_topics

    await aensure_topics(
        settings, [settings.events_topic, settings.positions_topic], settings.kafka_partitions
    )


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    admin: str
    staff: str
    kiosk: str
    viewer: str


async def create_tenant(settings: Settings) -> Tenant:
    from access.directory import TenantDirectory
    from eventstore.pool import open_pool
    from eventstore.postgres import PostgresEventStore

    pool = await open_pool(settings, min_size=1, max_size=2, wait=True)
    try:
        directory = TenantDirectory(PostgresEventStore(pool))
        tenant_id, admin = await directory.create_tenant("Bench Stadium")
        keys = {
            role: (await directory.create_key(tenant_id, f"bench {role}", role)).secret
            for role in ("staff", "kiosk", "viewer")
        }
    finally:
        await pool.close()
    return Tenant(tenant_id, admin.secret, keys["staff"], keys["kiosk"], keys["viewer"])


def subprocess_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a `vq` subprocess use exactly these settings."""
    return {**os.environ, **settings.environment()}


async def teardown(settings: Settings) -> None:
    """Drop the schema, the topics and the Redis keys this run made."""
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(settings.db_schema))
        )
    client = aioredis.Redis.from_url(settings.redis_dsn)
    try:
        batch: list[Any] = []
        async for key in client.scan_iter(match=f"{settings.redis_prefix}:*", count=5000):
            batch.append(key)
            if len(batch) >= 5000:
                await client.unlink(*batch)
                batch.clear()
        if batch:
            await client.unlink(*batch)
    finally:
        await client.aclose()
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix + ".")]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = _proc_field("/proc/cpuinfo", "model name") or "unknown"
    mem_kb = int((_proc_field("/proc/meminfo", "MemTotal") or "0 kB").split()[0])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        # The estimators' hottest modules: compiled by mypyc, or run as source (setup.py).
        "estimators": "compiled" if native.compiled() else "source",
        "postgresql": _version(["psql", "--version"]),
        "redis": _version(["redis-server", "--version"]),
    }


def _proc_field(path: str, name: str) -> str | None:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name):
            return line.split(":", 1)[1].strip()
    return None


def _version(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out[:80]


def loadavg() -> float:
    return os.getloadavg()[0]
