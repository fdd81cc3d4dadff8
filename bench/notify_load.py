"""The notifications phase's load: followed tickets, their position records, and the receivers.

Each source record is what the stream worker puts on the positions topic
(`schemas.positions.encode(PositionChanged(...))`, key = ticket id) for a ticket of its own that
has one email subscription (`ahead` <= 9) and sits at position 5, under a tenant with one webhook
endpoint subscribed to `TicketPositionChanged`: so each record makes exactly one email (id
`<subscription>:ahead-9:1`) and one webhook (the notifier's deterministic `webhook-id`), and the
receivers' arrivals are matched to the record by those ids.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer

from core.settings import Settings
from notifications import fanout
from schemas import positions

POSITION = 5  # 4 people ahead: inside the `ahead` 9 rule, so the first record fires it
RULES = json.dumps([{"kind": "ahead", "threshold": 9}])


@dataclass(frozen=True, slots=True)
class Source:
    """One position record and the two messages it must make."""

    ticket_id: str
    queue_id: str
    version: int
    webhook_id: str
    email_id: str


def make_sources(
    settings: Settings, tenant_id: str, endpoint_id: str, count: int, queues: int, first: int
) -> list[Source]:
    """`count` followed tickets (their subscriptions inserted with COPY); versions from `first`."""
    queue_ids = [str(uuid.uuid4()) for _ in range(queues)]
    made: list[Source] = []
    with (
        psycopg.connect(settings.pg_url, options=f"-c search_path={settings.db_schema}") as conn,
        conn.cursor() as cur,
        cur.copy(
            "COPY subscriptions (subscription_id, tenant_id, queue_id, ticket_id, channel, "
            "address, language, rules) FROM STDIN"
        ) as copy,
    ):
        for index in range(count):
            ticket_id, subscription_id = str(uuid.uuid4()), str(uuid.uuid4())
            queue_id, version = queue_ids[index % queues], first + index
            address = f"guest{version}@bench.example.com"
            copy.write_row(
                (subscription_id, tenant_id, queue_id, ticket_id, "email", address, "en", RULES)
            )
            event_id = f"{queue_id}:{version}:{ticket_id}"
            webhook = fanout.webhook_message(
                endpoint_id, tenant_id, fanout.POSITION_EVENT, event_id, datetime.now(UTC), {}, ""
            )
            made.append(
                Source(ticket_id, queue_id, version, webhook.id, f"{subscription_id}:ahead-9:1")
            )
    return made


async def create_endpoint(settings: Settings, tenant_id: str, url: str) -> str:
    from eventstore.pool import open_pool
    from notifications.store.endpoints import create_endpoint as create

    pool = await open_pool(settings, min_size=1, max_size=1, wait=True)
    try:
        # No rate limit to speak of: the receiver is ours and the benchmark wants its ceiling.
        endpoint = await create(
            pool, tenant_id, url=url, event_types=[fanout.POSITION_EVENT], rate_per_s=1_000_000
        )
    finally:
        await pool.close()
    return endpoint.endpoint_id


def _record(
    tenant_id: str, source: Source, at: datetime
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    return positions.encode(
        positions.PositionChanged(
            tenant_id=tenant_id,
            queue_id=source.queue_id,
            ticket_id=source.ticket_id,
            number=f"B{source.version % 1000:03d}",
            stream_version=source.version,
            occurred_at=at,
            cause="TicketCalled",  # someone ahead was called: this ticket moved up
            status="waiting",
            position=POSITION,
            counter=None,
        )
    )


@dataclass(frozen=True, slots=True)
class Encoded:
    """The step's records, encoded beforehand so the generator's Avro work is not taken from
    the cores the pipeline has while it runs; record i's event time is `wall` + i/rate."""

    wall: datetime
    records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]


def encode(tenant_id: str, sources: list[Source], rate: float) -> Encoded:
    wall = datetime.now(UTC) + timedelta(seconds=0.5 + len(sources) * 60e-6)
    return Encoded(
        wall,
        [
            _record(tenant_id, source, wall + timedelta(seconds=index / rate))
            for index, source in enumerate(sources)
        ],
    )


async def produce(settings: Settings, encoded: Encoded, rate: float) -> dict[str, Any]:
    """Open loop: record i is due at t0 + i/rate whatever happened before; returns t0 and how
    late the generator was (latency is measured from the due time, so lateness cannot hide)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_servers, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    records = encoded.records
    late: list[float] = []
    try:
        # On time with the records' event times when encoding was quick enough, else at once.
        t0 = time.monotonic() + max(0.1, (encoded.wall - datetime.now(UTC)).total_seconds())
        index = 0
        while index < len(records):
            now = time.monotonic()
            while index < len(records) and t0 + index / rate <= now:
                key, value, headers = records[index]
                await producer.send(settings.positions_topic, value, key=key, headers=headers)
                late.append(now - (t0 + index / rate))
                index += 1
            if index < len(records):
                await asyncio.sleep(max(0.0, min(0.005, t0 + index / rate - time.monotonic())))
        await producer.flush()
    finally:
        await producer.stop()
    return {"t0": t0, "end": t0 + len(records) / rate, "max_late_ms": round(max(late) * 1000, 1)}


class Receiver:
    """The benchmark's handle on a receiver process (bench/receivers.py)."""

    def __init__(self, kind: str, port: int) -> None:
        self.kind, self.port = kind, port
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.receivers", kind, str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self.readline() != "ready":
            raise RuntimeError(f"the {kind} receiver did not start")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def readline(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.readline())
        return answer

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
