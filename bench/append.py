"""The event store's append, in process (no HTTP): what `PostgresEventStore.append` does per transaction.

Each caller owns its streams (no version conflicts: this measures the write path, not retries).
A transaction is what a command writes: the stream lock, `UPDATE streams`, the events, the
ticket index, optionally the idempotency record, and the NOTIFY, then COMMIT.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from bench.ceilings import sample_event
from bench.stats import summary_ms
from core.settings import Settings
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from eventstore.values import IdempotencyRecord, StreamAppend


async def event_store_append(
    settings: Settings,
    tenant_id: str,
    seconds: float,
    concurrency: int,
    events_per_append: int = 1,
    idempotency: bool = False,
) -> dict[str, Any]:
    pool = await open_pool(settings, min_size=concurrency, max_size=concurrency, wait=True)
    store = PostgresEventStore(pool)
    latencies: list[float] = []

    async def caller(stop_at: float) -> int:
        stream = str(uuid.uuid4())
        version, events = 0, 0
        while (now := time.monotonic()) < stop_at:
            records = [
                sample_event(stream, version + i + 1, tenant_id) for i in range(events_per_append)
            ]
            stored = None
            if idempotency:
                stored = IdempotencyRecord(
                    key=uuid.uuid4().hex,
                    request_hash=b"h" * 32,
                    outcome={"queue_id": stream, "versions": {stream: version}},
                )
            await store.append(
                [
                    StreamAppend(
                        stream_id=stream,
                        tenant_id=tenant_id,
                        expected_version=version,
                        records=records,
                    )
                ],
                idempotency=stored,
                tenant_id=tenant_id,
            )
            latencies.append(time.monotonic() - now)
            version += events_per_append
            events += events_per_append
        return events

    try:
        started, cpu = time.monotonic(), time.process_time()
        counts = await asyncio.gather(*(caller(started + seconds) for _ in range(concurrency)))
        took, cpu = time.monotonic() - started, time.process_time() - cpu
    finally:
        await pool.close()
    appends = sum(counts) / events_per_append
    return {
        "events_per_s": round(sum(counts) / took),
        "transactions_per_s": round(appends / took),
        # This process's CPU (the callers and the store's client side) per append.
        "client_cpu_ms_per_append": round(1000 * cpu / appends, 3) if appends else None,
        "events_per_append": events_per_append,
        "idempotency": idempotency,
        "connections": concurrency,
        "latency": summary_ms(latencies),
        "at": datetime.now(UTC).isoformat(),
    }
