"""Ceilings of the parts, measured right now, with the clients and settings the app itself uses.

* PostgreSQL: single-row INSERT + COMMIT (autocommit) into a copy of the `events` table (same
  columns, defaults, identity, indexes and unique keys), several connections at once, on the
  server's own durability settings (fsync and synchronous_commit as configured).
* Kafka: the relay's producer (`eventstore.relay.producer_config`), real encoded events, sent
  the way the relay sends (a batch of sends, then wait for every ack).
* Redis: ZADD and ZRANK from redis-py's asyncio client, several callers at once, one command per
  round trip (what a request does), and ZADD pipelined (what the server can take).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis.asyncio as aioredis

from bench.stats import summary_ms
from core.settings import Settings
from domain.events import TicketEnqueued
from domain.recorded import RecordedEvent
from eventstore.serialization import to_json

# The statement an append's INSERT is, as a pgbench script (`:payload` is bound, so it is sent as
# a parameter of a prepared statement, as psycopg sends it).
_PGBENCH_SCRIPT = (
    "INSERT INTO ceiling_events (stream_id, stream_version, event_id, tenant_id, event_type, "
    "schema_version, occurred_at, command_id, correlation_id, actor, payload) VALUES "
    "(gen_random_uuid(), 1, gen_random_uuid(), gen_random_uuid(), 'TicketEnqueued', 2, now(), "
    "gen_random_uuid(), gen_random_uuid(), 'bench', CAST(:payload AS jsonb));\n"
)


def sample_event(queue_id: str, version: int, tenant_id: str) -> RecordedEvent:
    """A realistic event (a kiosk enqueue) as the store and the relay see it."""
    now = datetime.now(UTC)
    return RecordedEvent(
        event_id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        queue_id=queue_id,
        stream_version=version,
        event=TicketEnqueued(
            ticket_id=str(uuid.uuid4()),
            number=f"A-{version % 1000:03d}",
            daily_number=version,
            seq=version,
            priority="normal",
            service_type=None,
            channel="kiosk",
            personal=None,
            at=now,
        ),
        occurred_at=now,
        command_id=str(uuid.uuid4()),
        correlation_id=str(uuid.uuid4()),
        actor="key:bench",
    )


async def _for(seconds: float, worker: Any, concurrency: int) -> tuple[int, float, list[float]]:
    """Run `concurrency` copies of `worker(stop_at, latencies)`; returns (ops, seconds, lats)."""
    latencies: list[float] = []
    started = time.monotonic()
    counts = await asyncio.gather(
        *(worker(started + seconds, latencies) for _ in range(concurrency))
    )
    return sum(counts), time.monotonic() - started, latencies


# -- PostgreSQL ------------------------------------------------------------------------------------


def ceiling_table(settings: Settings) -> dict[str, str]:
    """Make `ceiling_events`, a copy of `events`; returns the server's durability settings."""
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {settings.db_schema}")
        conn.execute("CREATE TABLE IF NOT EXISTS ceiling_events (LIKE events INCLUDING ALL)")
        return {
            name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
            for name in ("fsync", "synchronous_commit", "wal_sync_method", "full_page_writes")
        }


async def postgres_insert(settings: Settings, seconds: float, concurrency: int) -> dict[str, Any]:
    durability = ceiling_table(settings)
    tenant_id = str(uuid.uuid4())
    sql = (
        "INSERT INTO ceiling_events (stream_id, stream_version, event_id, tenant_id, "
        "event_type, schema_version, occurred_at, command_id, correlation_id, actor, payload) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )

    async def worker(stop_at: float, latencies: list[float]) -> int:
        conn = await psycopg.AsyncConnection.connect(
            settings.pg_url, autocommit=True, options=f"-c search_path={settings.db_schema}"
        )
        stream, version, done = str(uuid.uuid4()), 0, 0
        try:
            while (now := time.monotonic()) < stop_at:
                version += 1
                record = sample_event(stream, version, tenant_id)
                await conn.execute(
                    sql,
                    (
                        stream,
                        version,
                        record.event_id,
                        tenant_id,
                        record.event_type,
                        record.schema_version,
                        record.occurred_at,
                        record.command_id,
                        record.correlation_id,
                        record.actor,
                        to_json(record.event),
                    ),
                    prepare=True,
                )
                latencies.append(time.monotonic() - now)
                done += 1
        finally:
            await conn.close()
        return done

    ops, took, latencies = await _for(seconds, worker, concurrency)
    return {
        "rows_per_s": round(ops / took),
        "connections": concurrency,
        "seconds": round(took, 1),
        "commit_latency": summary_ms(latencies),
        "durability": durability,
    }


def pgbench_insert(settings: Settings, seconds: float, concurrency: int) -> dict[str, Any] | None:
    """The same INSERT + COMMIT from pgbench (a C client): PostgreSQL's own ceiling, without
    Python's cost per statement. None when pgbench is not installed."""
    binary = shutil.which("pgbench")
    if binary is None:
        return None
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(settings.pg_url)
    payload = to_json(sample_event(str(uuid.uuid4()), 1, str(uuid.uuid4())).event)
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "insert.sql"
        script.write_text(_PGBENCH_SCRIPT)
        env = {
            **os.environ,
            "PGPASSWORD": str(info.get("password", "")),
            "PGOPTIONS": f"-c search_path={settings.db_schema}",
        }
        out = subprocess.run(
            [
                binary,
                "-h",
                str(info.get("host", "127.0.0.1")),
                "-p",
                str(info.get("port", 5432)),
                "-U",
                str(info.get("user", "postgres")),
                "-n",
                "-c",
                str(concurrency),
                "-j",
                "2",
                "-T",
                str(max(1, round(seconds))),
                "-M",
                "prepared",
                "-D",
                f"payload={payload}",
                "-f",
                str(script),
                str(info.get("dbname", "postgres")),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=seconds + 60,
        )
    tps = re.search(r"^tps = ([0-9.]+)", out.stdout, re.M)
    latency = re.search(r"^latency average = ([0-9.]+) ms", out.stdout, re.M)
    if out.returncode != 0 or tps is None:
        return {"error": (out.stderr or out.stdout).strip()[-300:]}
    return {
        "rows_per_s": round(float(tps[1])),
        "connections": concurrency,
        "latency_avg_ms": float(latency[1]) if latency else None,
    }


# -- Kafka ---------------------------------------------------------------------------------------


async def kafka_produce(
    settings: Settings, topic: str, seconds: float, batch: int = 1000
) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    from eventstore.relay import producer_config
    from schemas.codec import encode

    tenant = str(uuid.uuid4())
    queues = [str(uuid.uuid4()) for _ in range(50)]
    messages = [encode(sample_event(random.choice(queues), i + 1, tenant)) for i in range(batch)]
    producer = AIOKafkaProducer(**producer_config(settings.kafka_servers))
    await producer.start()
    sent = 0
    latencies = []
    try:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            batch_start = time.monotonic()
            futures = [
                await producer.send(topic, value=m.value, key=m.key, headers=m.headers)
                for m in messages
            ]
            await asyncio.gather(*futures)
            latencies.append(time.monotonic() - batch_start)
            sent += len(messages)
        took = time.monotonic() - started
    finally:
        await producer.stop()
    size = sum(len(m.value) for m in messages) / len(messages)
    return {
        "messages_per_s": round(sent / took),
        "seconds": round(took, 1),
        "batch": batch,
        "value_bytes": round(size),
        "batch_latency": summary_ms(latencies),
        "producer": {k: v for k, v in producer_config("").items() if k != "bootstrap_servers"},
    }


# -- Redis ---------------------------------------------------------------------------------------


def _member(i: int) -> str:
    """Shaped like a waiting-line member (projections.views.line_member)."""
    return f"03|{1_700_000_000_000_000 + i:017d}|{i:012d}|{uuid.UUID(int=i)}"


async def redis_zset(
    settings: Settings, seconds: float, concurrency: int, size: int = 100_000
) -> dict[str, Any]:
    client = aioredis.Redis.from_url(settings.redis_dsn, max_connections=concurrency + 4)
    key = f"{settings.redis_prefix}:ceiling:line"
    counter = iter(range(10**9))
    try:
        pipe_started = time.monotonic()
        for start in range(0, size, 1000):
            pipe = client.pipeline(transaction=False)
            for i in range(start, start + 1000):
                pipe.zadd(key, {_member(i): 0})
            await pipe.execute()
        pipelined = size / (time.monotonic() - pipe_started)

        async def zadd(stop_at: float, latencies: list[float]) -> int:
            done = 0
            while (now := time.monotonic()) < stop_at:
                await client.zadd(key + ":2", {_member(next(counter)): 0})
                latencies.append(time.monotonic() - now)
                done += 1
            return done

        async def zrank(stop_at: float, latencies: list[float]) -> int:
            done = 0
            while (now := time.monotonic()) < stop_at:
                await client.zrank(key, _member(random.randrange(size)))
                latencies.append(time.monotonic() - now)
                done += 1
            return done

        add_ops, add_s, add_lat = await _for(seconds / 2, zadd, concurrency)
        rank_ops, rank_s, rank_lat = await _for(seconds / 2, zrank, concurrency)
    finally:
        await client.delete(key, key + ":2")
        await client.aclose()
    return {
        "zadd_per_s": round(add_ops / add_s),
        "zadd_latency": summary_ms(add_lat),
        "zrank_per_s": round(rank_ops / rank_s),
        "zrank_latency": summary_ms(rank_lat),
        "zadd_pipelined_per_s": round(pipelined),
        "zset_size": size,
        "clients": concurrency,
    }
