"""Dead letters: a record the workers cannot decode goes to the dead-letter topic with its error
and coordinates; the partition goes on; the read models still match the event store; `vq
deadletters list|replay` show and re-drive them; readiness counts them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from core.settings import Settings
from deploy.topics import aensure_topics
from eventstore.postgres import PostgresEventStore
from projections.layout import Keys
from tests.contract.eventstore import append, created, enqueued
from tests.integration.servers import api_servers, read_side, settings_env
from topics.deadletter_kafka import list_dead_letters

GARBAGE: list[tuple[bytes | None, list[tuple[str, bytes]], str]] = [
    # (value, headers, what the error says)
    (
        b"\x07not avro at all",
        [
            ("ce_specversion", b"1.0"),
            ("ce_type", b"dev.vq.queue.TicketEnqueued"),
            ("ce_vqschemaversion", b"2"),
        ],
        "InvalidMessage",
    ),
    (
        b"\x02x",
        [
            ("ce_specversion", b"1.0"),
            ("ce_type", b"dev.vq.queue.TicketTeleported"),
            ("ce_vqschemaversion", b"1"),
        ],
        "UnknownEventType",
    ),
    (b"{}", [("content-type", b"application/json")], "not a CloudEvents"),
]


def _vq(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vq.cli", *args],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _version(client: aioredis.Redis, key: str, want: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        stored = await client.hget(key, "version")
        if stored is not None and int(stored) >= want:
            return
        assert time.monotonic() < deadline, f"read model stuck at {stored!r}, want {want}"
        await asyncio.sleep(0.1)


async def _pending_in_readiness(url: str, want: int, timeout: float = 30) -> dict[str, Any]:
    """The readiness detail `dead_letters`, once it says `want` (a probe's first answer may be
    a timeout while its Kafka clients start: readiness answers within a second, whatever)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=10) as http:
        while True:
            body: dict[str, Any] = (await http.get(f"{url}/readyz")).json()
            detail: dict[str, Any] = body["checks"]["dead_letters"]
            if detail.get("events") == want or time.monotonic() > deadline:
                return detail
            await asyncio.sleep(0.5)


async def _dead_letters(settings: Settings, count: int, timeout: float = 60) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = await list_dead_letters(settings, pending_only=False)
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"{len(found)} dead letters, want {count}"
        await asyncio.sleep(0.5)


async def test_garbage_goes_to_dead_letters_and_the_queue_goes_on(
    settings: Settings, store: PostgresEventStore, tenant_id: str, topics: list[str]
) -> None:
    await aensure_topics(settings, [settings.events_dead_letter_topic], settings.kafka_partitions)
    keys = Keys(settings.redis_prefix)
    client = aioredis.Redis.from_url(settings.redis_dsn)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers)
    await producer.start()
    queue = str(uuid.uuid4())
    try:
        with read_side(settings):
            await append(store, queue, tenant_id, 0, [created(queue, tenant_id)])
            await append(store, queue, tenant_id, 1, [enqueued(n) for n in range(1, 4)])
            await _version(client, keys.queue(tenant_id, queue), 4)
            # Hand-crafted records in the queue's own partition (same key), between its events.
            sent = []
            for value, headers, _ in GARBAGE:
                sent.append(
                    await producer.send_and_wait(
                        settings.events_topic, key=queue.encode(), value=value, headers=headers
                    )
                )
            await append(store, queue, tenant_id, 4, [enqueued(n) for n in range(4, 7)])
            # The partition was not blocked: the events after the garbage are folded.
            await _version(client, keys.queue(tenant_id, queue), 7)
            letters = await _dead_letters(settings, len(GARBAGE))

        # Each dead letter is the original record plus why and where from.
        assert len(letters) == len(GARBAGE)
        by_offset = {letter.origin.offset: letter for letter in letters}
        for meta, (value, headers, error) in zip(sent, GARBAGE, strict=True):
            letter = by_offset[meta.offset]
            assert letter.origin.topic == settings.events_topic
            assert letter.origin.partition == meta.partition
            assert letter.origin.timestamp_ms == meta.timestamp
            assert letter.stage == "decode" and error in letter.error
            assert letter.group == settings.worker_group
            assert letter.key == queue.encode() and letter.value == value
            assert letter.headers == headers

        # The read model agrees with the event store.
        check = _vq(settings, "projections", "check")
        assert check.returncode == 0, check.stdout + check.stderr
        assert "0 differences" in check.stdout + check.stderr, check.stdout + check.stderr

        # `vq deadletters list`: one JSON line per pending dead letter.
        listed = _vq(settings, "deadletters", "list")
        assert listed.returncode == 0, listed.stderr
        lines = [json.loads(line) for line in listed.stdout.splitlines()]
        assert sorted(line["origin"]["offset"] for line in lines) == sorted(by_offset)
        assert {line["stage"] for line in lines} == {"decode"}
        assert f"{len(GARBAGE)} pending dead letters" in listed.stderr

        # Readiness counts them (a detail: it does not make the API unready).
        with api_servers(settings, 1) as urls:
            detail = await _pending_in_readiness(urls[0], len(GARBAGE))
            assert detail["ok"] is True and detail["events"] == len(GARBAGE), detail

            # Replay re-drives them as they were; garbage is still garbage, so the workers
            # dead-letter it again (now from its new offset), and nothing is pending but those.
            replayed = _vq(settings, "deadletters", "replay")
            assert replayed.returncode == 0, replayed.stderr
            assert f"{len(GARBAGE)} dead letters replayed" in replayed.stderr
            assert _vq(settings, "deadletters", "list").stdout == ""
            with read_side(settings):
                again = await _dead_letters(settings, 2 * len(GARBAGE))
            assert len(again) == 2 * len(GARBAGE)
            newer = [d for d in again if d.origin.offset not in by_offset]
            assert {d.value for d in newer} == {value for value, _, _ in GARBAGE}
            detail = await _pending_in_readiness(urls[0], len(GARBAGE))
            assert detail["ok"] is True and detail["events"] == len(GARBAGE), detail
    finally:
        await producer.stop()
        await client.aclose()
