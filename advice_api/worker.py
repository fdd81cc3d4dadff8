"""What a staffing job's worker process runs: a plan (simulation.staffing) for a queue's events,
its progress written to the job's Redis hash as it goes. Imported in the worker process only (a
spawned process: it shares nothing with the API's event loop)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from datetime import date
from typing import Any

import redis

from domain.events import QueueEvent
from simulation.staffing import alike, plan
from simulation.staffing_cli import as_json, next_day, queue_history

NICE = 10  # below the API's and the workers' own work: a plan waits, people in line do not


def compute(
    events: Sequence[QueueEvent],
    day: str | None,
    confidence: float,
    counts: Sequence[int] | None,
    redis_url: str,
    key: str,
) -> dict[str, object]:
    """The plan (or the check of `counts`) as `vq simulate --staffing --json` prints it."""
    with contextlib.suppress(OSError):  # not allowed here: run at the same priority
        os.nice(NICE)
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    last_write = 0.0

    def progress(phase: str, done: int, total: int | None) -> None:
        nonlocal last_write
        now = time.time()
        if now - last_write < 0.5 and (total is None or done < total):
            return  # at most two writes a second
        last_write = now
        fields: dict[Any, Any] = {
            "status": "running",
            "phase": phase,
            "done": done,
            "heartbeat": now,
        }
        # Progress is for people watching: Redis away does not stop the plan (its end is written
        # by the API process, advice_api/jobs.py).
        with contextlib.suppress(redis.RedisError):
            client.hset(key, mapping={**fields, "total": "" if total is None else total})

    try:
        progress("start", 0, None)
        history = queue_history(events)
        when = next_day(events) if day is None else date.fromisoformat(day)
        found = plan(history, when, confidence=confidence, counts=counts, progress=progress)
        return as_json(found, alike(history, when)[-1])
    finally:
        client.close()
