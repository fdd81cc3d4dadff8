"""Reads: a ticket's position with 100, 10,000 and 100,000 tickets waiting in its queue.

Three paths, each one caller at a time (latency, not throughput), tickets drawn at random
positions along the line:
* `zrank`: the bare Redis ZRANK of the ticket's line member (the floor);
* `read_model`: the query side's own read (`ReadModels.ticket`: home key, then one Lua script
  that reads version, view and ZRANK at one instant);
* `http`: `GET /v1/tickets/{id}` through the API, when the API serves it.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import redis.asyncio as aioredis

from bench.httpclient import HttpPool, build_request
from bench.stats import summary_ms
from eventstore.postgres import PostgresEventStore
from projections.layout import Keys
from projections.queries import ReadModels


async def _time_each(calls: int, one: Any) -> dict[str, Any]:
    """Latency of `calls` calls one after the other; `one` returns False on a failed call."""
    latencies, failed = [], 0
    for index in range(calls):
        started = time.monotonic()
        if await one(index) is False:
            failed += 1
        latencies.append(time.monotonic() - started)
    return {**summary_ms(latencies), "failed": failed}


async def positions(
    client: aioredis.Redis,
    keys: Keys,
    store: PostgresEventStore,
    tenant_id: str,
    lines: dict[str, list[str]],
    calls: int,
    api_url: str | None,
    viewer_key: str,
) -> list[dict[str, Any]]:
    models = ReadModels(client, keys, store)
    pool = None
    if api_url is not None:
        host, _, port = api_url.removeprefix("http://").partition(":")
        pool = HttpPool(host, int(port), 1)
    results = []
    rng = random.Random(3)
    try:
        for queue_id, tickets in sorted(lines.items(), key=lambda kv: len(kv[1])):
            sample = [rng.choice(tickets) for _ in range(calls)]
            members = []
            for ticket_id in sample:
                raw = await client.get(keys.ticket(tenant_id, queue_id, ticket_id))
                members.append(json.loads(raw or "{}")["line"])
            line = keys.line(tenant_id, queue_id)
            row: dict[str, Any] = {"waiting": len(tickets), "zcard": await client.zcard(line)}

            async def zrank(i: int, line: str = line, members: list[str] = members) -> bool:
                return await client.zrank(line, members[i]) is not None

            row["zrank"] = await _time_each(calls, zrank)

            async def read(i: int, sample: list[str] = sample) -> bool:
                found = await models.ticket(tenant_id, sample[i])
                return found is not None and found.position is not None

            row["read_model"] = await _time_each(calls, read)
            if pool is not None:

                async def get(i: int, sample: list[str] = sample) -> bool:
                    assert pool is not None
                    status, _ = await pool.request(
                        build_request(
                            "GET",
                            f"/v1/tickets/{sample[i]}",
                            f"{pool.host}:{pool.port}",
                            {"Authorization": f"Bearer {viewer_key}"},
                        )
                    )
                    return status == 200

                row["http"] = await _time_each(calls, get)
            results.append(row)
    finally:
        if pool is not None:
            await pool.close()
    return results
