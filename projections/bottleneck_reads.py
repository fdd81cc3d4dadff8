"""The analytics buckets a bottleneck judgement reads (projections.bottlenecks), from Redis: today
from local midnight to the moment, and the same hour of each past weekday compared."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from projections.analytics import BUCKET_S
from projections.analytics_report import load_buckets
from projections.bottlenecks import Evidence, windows
from projections.layout import Keys


async def read_evidence(
    client: aioredis.Redis,
    keys: Keys,
    tenant: str,
    queue: str,
    view: dict[str, Any],
    moment: datetime,
    *,
    live: bool,
) -> Evidence:
    """The evidence at `moment`; `live`: `view` (the queue's read model) is the line at that
    moment, so its waiting people and busy counters count (else neither is known)."""
    timezone = str(view.get("timezone") or "UTC")
    zone = ZoneInfo(timezone)
    _, past = windows(moment, timezone)
    midnight = moment.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    # The nine ranges at once (each is a ZRANGEBYSCORE, then a pipeline of its buckets).
    today, *before = await asyncio.gather(
        load_buckets(client, keys, tenant, queue, midnight, moment),
        *(
            load_buckets(
                client,
                keys,
                tenant,
                queue,
                datetime.fromtimestamp(window.starts[0], tz=zone),
                datetime.fromtimestamp(window.starts[-1] + BUCKET_S, tz=zone),
            )
            for _, window in past
        ),
    )
    return Evidence.of(
        today,
        before,
        moment,
        timezone,
        int(view.get("waiting", 0)) if live else 0,
        (s["counter"] for s in view.get("now_serving", [])) if live else (),
    )
