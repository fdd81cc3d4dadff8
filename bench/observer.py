"""Watches the read side: when each queue version reaches Redis pub/sub and SSE subscribers.

Runs in a process of its own (`python -m bench.observer CONFIG.json`) so the load generator's
own event-loop lag does not delay what it sees. Times are `time.monotonic()`, which on Linux is
one clock for every process, so they compare with the generator's answer times.

* pub/sub: the projector publishes on `Keys.changes` right after its Lua write committed, so a
  message's arrival bounds "the read model shows it" from above (by one Redis hop).
* SSE: `GET /v1/queues/{id}/events` per queue, when the API serves it: what a browser sees.
* Kafka: a consumer of the events topic of its own (no group, from the end), as the worker
  reads it: when each queue version was there to be read. It splits the path in two: the
  relay's part (answer -> Kafka) and the worker's (Kafka -> pub/sub).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer

from bench.aio import run
from bench.httpclient import HttpError, build_request, sse_ids

_VERSION = re.compile(rb'"version":\s*(\d+)')


async def _pubsub(
    config: dict[str, Any], seen: list[list[Any]], ready: asyncio.Event, stop_at: float
) -> None:
    client = aioredis.Redis.from_url(config["redis_url"])
    pubsub = client.pubsub()
    await pubsub.psubscribe(config["pattern"])
    ready.set()
    try:
        while time.monotonic() < stop_at:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message is None or message.get("type") != "pmessage":
                continue
            now = time.monotonic()
            channel = message["channel"].decode()
            # The channel names the queue; the version is the message's second field.
            match = _VERSION.search(message["data"][:200])
            if match:
                seen.append([channel.rsplit(":", 2)[1], int(match[1]), now])
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
        await client.aclose()


async def _kafka(
    config: dict[str, Any], seen: list[list[Any]], ready: asyncio.Event, stop_at: float
) -> None:
    consumer = AIOKafkaConsumer(
        config["events_topic"],
        bootstrap_servers=config["kafka"],
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="latest",
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    try:
        # Where every partition ends now (auto_offset_reset): what comes after it is the run's.
        for partition in consumer.assignment():
            await consumer.position(partition)
        ready.set()
        while time.monotonic() < stop_at:
            batches = await consumer.getmany(timeout_ms=200)
            now = time.monotonic()
            for records in batches.values():
                for record in records:
                    version = dict(record.headers).get("ce_vqstreamversion")
                    if record.key is not None and version is not None:
                        seen.append([record.key.decode(), int(version), now])
    finally:
        await consumer.stop()


async def _sse(
    config: dict[str, Any], queue_id: str, seen: list[list[Any]], stop_at: float
) -> None:
    host, _, port = config["api"].removeprefix("http://").partition(":")
    raw = build_request(
        "GET",
        f"/v1/queues/{queue_id}/events",
        f"{host}:{port}",
        {"Authorization": f"Bearer {config['viewer_key']}", "Accept": "text/event-stream"},
    )
    try:
        async with asyncio.timeout(max(stop_at - time.monotonic(), 0.1)):
            async for version in sse_ids(host, int(port), raw):
                seen.append([queue_id, version, time.monotonic()])
    except (TimeoutError, HttpError, OSError) as exc:
        if not isinstance(exc, TimeoutError):
            print(f"observer: SSE {queue_id}: {exc}", file=sys.stderr)


async def observe(config: dict[str, Any]) -> dict[str, Any]:
    stop_at = time.monotonic() + float(config["seconds"])
    pubsub: list[list[Any]] = []
    sse: list[list[Any]] = []
    kafka: list[list[Any]] = []
    ready, kafka_ready = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(_pubsub(config, pubsub, ready, stop_at))]
    if config.get("kafka"):
        tasks.append(asyncio.create_task(_kafka(config, kafka, kafka_ready, stop_at)))
    else:
        kafka_ready.set()
    if config.get("api"):
        tasks += [asyncio.create_task(_sse(config, q, sse, stop_at)) for q in config["queues"]]
    await ready.wait()
    await kafka_ready.wait()
    # Each SSE stream starts with the current view: once every stream sent one, all are live.
    deadline = time.monotonic() + 10
    while config.get("api") and len({row[0] for row in sse}) < len(config["queues"]):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    await asyncio.gather(*tasks)
    return {
        "pubsub": pubsub,
        "sse": sse,
        "kafka": kafka,
        "sse_streams": len({row[0] for row in sse}),
    }


def main() -> int:
    config = json.loads(Path(sys.argv[1]).read_text())
    result = run(observe(config))
    Path(config["out"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
