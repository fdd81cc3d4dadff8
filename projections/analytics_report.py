"""Reading analytics back: buckets from Redis, rolled up to 15 minutes, hours or days.

Days and hours are those of the queue's time zone. Percentiles are nearest-rank over the exact
samples (no sketches), so a recomputation from the event store gives the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from projections.analytics import BUCKET_S, SAMPLES
from projections.layout import Keys

Granularity = Literal["15m", "1h", "1d"]


@dataclass(slots=True)
class Bucket:
    start: int  # epoch seconds
    counts: dict[str, int] = field(default_factory=dict)
    waits: list[int] = field(default_factory=list)  # milliseconds
    services: list[int] = field(default_factory=list)


async def load_buckets(
    client: aioredis.Redis, keys: Keys, tenant: str, queue: str, start: datetime, end: datetime
) -> list[Bucket]:
    """The stored 15-minute buckets that begin in [start, end)."""
    low = int(start.timestamp()) - int(start.timestamp()) % BUCKET_S
    high = math.ceil(end.timestamp()) - 1  # a bucket begun 0.3 s before `end` is in it
    members: list[bytes] = await client.zrangebyscore(  # type: ignore[assignment]
        keys.analytics_index(tenant, queue), low, high
    )
    starts = [int(member) for member in members]
    pipe = client.pipeline(transaction=False)
    for bucket in starts:
        key = keys.analytics(tenant, queue, bucket)
        pipe.hgetall(key)
        for metric in SAMPLES:
            pipe.lrange(f"{key}:{metric}", 0, -1)
    raw = await pipe.execute()
    found = []
    for index, bucket in enumerate(starts):
        counts, waits, services = raw[index * 3 : index * 3 + 3]
        if not counts and not waits and not services:
            continue  # expired since it was indexed
        found.append(
            Bucket(
                start=bucket,
                counts={k.decode(): int(v) for k, v in counts.items()},
                waits=[int(v) for v in waits],
                services=[int(v) for v in services],
            )
        )
    return found


def percentile(values: Sequence[int], share: float) -> int | None:
    """Nearest-rank percentile of sorted `values`."""
    if not values:
        return None
    return values[max(0, math.ceil(share * len(values)) - 1)]


def _period_start(start: int, granularity: Granularity, zone: ZoneInfo) -> datetime:
    local = datetime.fromtimestamp(start, tz=UTC).astimezone(zone)
    if granularity == "1d":
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "1h":
        return local.replace(minute=0, second=0, microsecond=0)
    return local


def _period_end(begin: datetime, granularity: Granularity) -> datetime:
    if granularity == "1d":  # calendar day in the zone (23 or 25 hours on DST changes)
        return (begin + timedelta(days=1, hours=2)).replace(hour=0, minute=0)
    return begin + timedelta(seconds=3600 if granularity == "1h" else BUCKET_S)


def summarize(
    buckets: Iterable[Bucket], begin: datetime, end: datetime, target_wait_s: int
) -> dict[str, Any]:
    """One row: the counts, waits and service times of the buckets, as a manager reads them."""
    counts: dict[str, int] = {}
    waits: list[int] = []
    services: list[int] = []
    for bucket in buckets:
        for name, amount in bucket.counts.items():
            counts[name] = counts.get(name, 0) + amount
        waits.extend(bucket.waits)
        services.extend(bucket.services)
    waits.sort()
    services.sort()
    arrivals = counts.get("arrivals", 0)
    abandoned = counts.get("walkaways", 0) + counts.get("no_shows", 0)
    called = counts.get("called", 0)
    seconds = max((end - begin).total_seconds(), 1.0)
    counters, kinds = breakdowns(counts)
    return {
        "start": begin.isoformat(),
        "end": end.isoformat(),
        "arrivals": arrivals,
        "arrivals_by_priority": {
            k.split(":", 1)[1]: v for k, v in sorted(counts.items()) if k.startswith("arrivals:")
        },
        "appointments": counts.get("appointments", 0),  # of the arrivals, bookings checked in
        "transferred_in": counts.get("transferred_in", 0),
        "transferred_out": counts.get("transferred_out", 0),
        "called": called,
        "served": counts.get("served", 0),
        "no_shows": counts.get("no_shows", 0),
        "walkaways": counts.get("walkaways", 0),
        "cancellations": counts.get("cancellations", 0),
        "promoted": counts.get("promoted", 0),
        "abandonment_rate": round(abandoned / arrivals, 4) if arrivals else None,
        "wait_seconds": _stats(waits),
        "service_seconds": _stats(services),
        "target_wait_seconds": target_wait_s,
        "within_target_share": (
            round(counts.get("within_target", 0) / called, 4) if called else None
        ),
        # Fairness: of those called who had been shown a range, the share who waited over twice
        # its P50 (domain.estimation.accuracy.over_twice).
        "promised": counts.get("promised", 0),
        "over_twice_share": (
            round(counts.get("over_twice", 0) / counts["promised"], 4)
            if counts.get("promised")
            else None
        ),
        "routed": _routed(counts),
        "counters": {
            counter: {
                "served": metrics.get("served", 0),
                "mean_service_seconds": _mean_service(metrics),
                "utilisation": round(min(metrics.get("busy_ms", 0) / 1000 / seconds, 1.0), 4),
            }
            for counter, metrics in sorted(counters.items())
        },
        # Per service type ("" when none was given): how many were served, in how long.
        "service_types": {
            kind: {
                "served": metrics.get("served", 0),
                "mean_service_seconds": _mean_service(metrics),
            }
            for kind, metrics in sorted(kinds.items())
        },
    }


def breakdowns(
    counts: dict[str, int],
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """The per-counter (`c:<counter>:<metric>`) and per-service-type (`t:<metric>:<type>`)
    counts, each by its name."""
    counters: dict[str, dict[str, int]] = {}
    kinds: dict[str, dict[str, int]] = {}
    for name, amount in counts.items():
        if name.startswith("c:"):
            _, counter, metric = name.split(":", 2)
            counters.setdefault(counter, {})[metric] = amount
        elif name.startswith("t:"):
            _, metric, kind = name.split(":", 2)
            kinds.setdefault(kind, {})[metric] = amount
    return counters, kinds


def _routed(counts: dict[str, int]) -> dict[str, Any]:
    """Tickets the API routed to the best queue: how many, how long they waited, and, of those
    shown a range when they joined, the mean P50 they were shown against the mean wait since."""
    called, shown = counts.get("routed_called", 0), counts.get("routed_shown", 0)

    def mean(name: str, of: int) -> float | None:
        return round(counts.get(name, 0) / 1000 / of, 1) if of else None

    return {
        "joined": counts.get("routed", 0),
        "called": called,
        "mean_wait_seconds": mean("routed_wait_ms", called),
        "shown": shown,
        "mean_shown_p50_seconds": mean("routed_shown_ms", shown),
        "mean_wait_when_shown_seconds": mean("routed_shown_wait_ms", shown),
    }


def _mean_service(metrics: dict[str, int]) -> float | None:
    served = metrics.get("served", 0)
    return round(metrics.get("service_ms", 0) / served / 1000, 1) if served else None


def _stats(values: Sequence[int]) -> dict[str, float | None]:
    if not values:
        return {"count": 0, "mean": None, "p50": None, "p90": None, "max": None}
    return {
        "count": len(values),
        "mean": round(sum(values) / len(values) / 1000, 1),
        "p50": round((percentile(values, 0.5) or 0) / 1000, 1),
        "p90": round((percentile(values, 0.9) or 0) / 1000, 1),
        "max": round(values[-1] / 1000, 1),
    }


def report(
    buckets: Sequence[Bucket],
    start: datetime,
    end: datetime,
    granularity: Granularity,
    timezone: str,
    target_wait_s: int,
) -> dict[str, Any]:
    """Rows per period, a total over the whole range, and the peak hours of arrivals."""
    zone = ZoneInfo(timezone)
    periods: dict[datetime, list[Bucket]] = {}
    for bucket in buckets:
        periods.setdefault(_period_start(bucket.start, granularity, zone), []).append(bucket)
    rows = [
        summarize(group, begin, _period_end(begin, granularity), target_wait_s)
        for begin, group in sorted(periods.items())
    ]
    by_hour: dict[int, int] = {}
    for bucket in buckets:
        hour = datetime.fromtimestamp(bucket.start, tz=UTC).astimezone(zone).hour
        by_hour[hour] = by_hour.get(hour, 0) + bucket.counts.get("arrivals", 0)
    busiest = sorted(by_hour.items(), key=lambda item: (-item[1], item[0]))[:3]
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "bucket": granularity,
        "timezone": timezone,
        "total": summarize(buckets, start, end, target_wait_s),
        "peak_hours": [{"hour": hour, "arrivals": n} for hour, n in busiest if n],
        "rows": rows,
    }


CSV_COLUMNS = (
    "start",
    "end",
    "arrivals",
    "called",
    "served",
    "no_shows",
    "walkaways",
    "cancellations",
    "transferred_in",
    "transferred_out",
    "abandonment_rate",
    "within_target_share",
    "over_twice_share",
    "wait_mean_s",
    "wait_p50_s",
    "wait_p90_s",
    "wait_max_s",
    "service_mean_s",
    "service_p50_s",
    # Routing (issue 16): those the API sent to the best queue, their wait against the P50 shown.
    "routed_joined",
    "routed_called",
    "routed_wait_mean_s",
    "routed_shown_p50_mean_s",
    "routed_wait_when_shown_mean_s",
)


def csv_rows(result: dict[str, Any]) -> Iterable[list[Any]]:
    yield list(CSV_COLUMNS)
    for row in result["rows"]:
        wait, service, routed = row["wait_seconds"], row["service_seconds"], row["routed"]
        yield [
            row["start"],
            row["end"],
            row["arrivals"],
            row["called"],
            row["served"],
            row["no_shows"],
            row["walkaways"],
            row["cancellations"],
            row["transferred_in"],
            row["transferred_out"],
            row["abandonment_rate"],
            row["within_target_share"],
            row["over_twice_share"],
            wait["mean"],
            wait["p50"],
            wait["p90"],
            wait["max"],
            service["mean"],
            service["p50"],
            routed["joined"],
            routed["called"],
            routed["mean_wait_seconds"],
            routed["mean_shown_p50_seconds"],
            routed["mean_wait_when_shown_seconds"],
        ]
