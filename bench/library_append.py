"""The same append through the Python `eventsourcing` library (9.x, its PostgreSQL recorder), on
the same PostgreSQL in the same run: issue 14 asks ours for >= 8x its saves per second.

As in `bench/append.py`: `concurrency` callers each own an aggregate (no version conflicts) and
save one new event per transaction for `seconds`. The library is synchronous, so its callers are
threads sharing its connection pool of the same size as ours. Its tables go into a schema of their
own, dropped afterwards.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from bench.figures import target
from bench.stats import summary_ms
from core.settings import Settings


def eventsourcing_append(settings: Settings, seconds: float, concurrency: int) -> dict[str, Any]:
    """Saves per second (one event each) of `concurrency` threads, with their latencies."""
    import psycopg
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Visit(Aggregate):  # one event per save, as one command appends one
        def __init__(self) -> None:
            self.steps = 0

        @event("Stepped")
        def step(self) -> None:
            self.steps += 1

    info = conninfo_to_dict(settings.pg_url)
    schema = f"bench_es_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(info.get("dbname", "postgres")),
        "POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(info.get("port", 5432)),
        "POSTGRES_USER": str(info.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(info.get("password", "")),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": str(concurrency),
        "POSTGRES_MAX_OVERFLOW": "0",
        "CREATE_TABLE": "y",
    }
    try:
        app: Application[uuid.UUID] = Application(env=env)
        try:
            return _saves(app, Visit, seconds, concurrency)
        finally:
            app.close()
    finally:
        with psycopg.connect(settings.pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _saves(app: Any, aggregate: Any, seconds: float, concurrency: int) -> dict[str, Any]:
    """`concurrency` threads, each saving one new event of its own aggregate at a time."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def caller() -> None:
        visit = aggregate()
        app.save(visit)
        mine: list[float] = []
        while (now := time.monotonic()) < stop_at:
            visit.step()
            app.save(visit)
            mine.append(time.monotonic() - now)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=caller) for _ in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "library": "eventsourcing",
        "concurrency": concurrency,
        "saves": len(latencies),
        "saves_per_s": round(len(latencies) / max(elapsed, 1e-9)),
        "latency": summary_ms(latencies),
    }


def targets(out: dict[str, Any]) -> list[dict[str, Any]]:
    """Ours (1 event a transaction, no idempotency record) against the library's saves/s."""
    ratio = library_ratio(out)
    if ratio is None:
        return []
    return [target("append vs the eventsourcing library (saves/s)", ">= 8x", ratio, ratio >= 8)]


def library_ratio(out: dict[str, Any]) -> float | None:
    ours, theirs = out.get("append"), out.get("append_library")
    if not ours or not theirs or not theirs.get("saves_per_s"):
        return None
    return round(float(ours[0]["events_per_s"]) / float(theirs["saves_per_s"]), 2)


def lines(out: dict[str, Any]) -> list[str]:
    theirs = out.get("append_library")
    if not theirs:
        return []
    lat = theirs["latency"]
    return [
        f"  the eventsourcing library, same PostgreSQL, {theirs['concurrency']} threads: "
        f"{theirs['saves_per_s']:,} saves/s (P50 {lat['p50']} / P99 {lat['p99']} ms); "
        f"ours {library_ratio(out)}x"
    ]
