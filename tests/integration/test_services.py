"""The three servers answer through the project's own settings (issue: the real stack)."""

from __future__ import annotations

import uuid

import psycopg
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from core.settings import Settings


async def test_kafka_round_trip(settings: Settings, topics: list[str]) -> None:
    topic = settings.events_topic
    key, value = uuid.uuid4().bytes, b"hello " + uuid.uuid4().hex.encode()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers, enable_idempotence=True)
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, value=value, key=key, headers=[("ce_id", b"1")])
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_servers, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        from aiokafka import TopicPartition

        partition = TopicPartition(topic, sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.key, record.value, list(record.headers)) == (key, value, [("ce_id", b"1")])


def test_postgres_round_trip(settings: Settings) -> None:
    with psycopg.connect(settings.pg_url, options=f"-c search_path={settings.db_schema}") as conn:
        conn.execute("CREATE TABLE probe (id uuid PRIMARY KEY, note text)")
        probe = uuid.uuid4()
        conn.execute("INSERT INTO probe VALUES (%s, %s)", (probe, "written"))
        conn.commit()
        row = conn.execute("SELECT note FROM probe WHERE id = %s", (probe,)).fetchone()
    assert row == ("written",)


async def test_redis_round_trip(settings: Settings) -> None:
    client = aioredis.Redis.from_url(settings.redis_dsn)
    key = f"{settings.redis_prefix}:probe"
    try:
        await client.zadd(key, {"a": 2, "b": 1})
        assert await client.zrank(key, "a") == 1
    finally:
        await client.delete(key)
        await client.aclose()
