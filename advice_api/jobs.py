"""Staffing plans made in the background: one worker process, each job's state in Redis.

A plan simulates hundreds of days (a minute or several on two cores), so a request only starts
it: the job runs in a spawned process at a lower priority (advice_api/worker.py), and its state
lives in Redis (`{prefix}:advice:{tenant}:{job}`, a hash kept a day), so any API replica answers
how far it is, and a job whose process died (an API restart) is seen as interrupted: its heartbeat
stops. One job per tenant at a time (a second is refused with Retry-After), one process for the
whole API (jobs of several tenants wait their turn, "queued"; past `MAX_WAITING` under way or
waiting, a new one is refused with 503 and Retry-After).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import redis.asyncio as aioredis

from domain.events import QueueEvent

log = logging.getLogger("vq.advice.jobs")

KEEP_S = 86_400  # a job's state and result are kept a day
MAX_RUN_S = 30 * 60  # the tenant's slot frees itself after this even if a job never ended
STALE_S = 120  # a running job without a heartbeat this long was interrupted
MAX_WAITING = 4  # jobs of this API process under way or waiting their turn (each holds its events)


class Busy(Exception):
    """The tenant has a job under way."""


class Full(Exception):
    """This API process has as many jobs as it takes; another replica, or later."""


class StaffingJobs:
    def __init__(self, client: aioredis.Redis, prefix: str, redis_url: str) -> None:
        self._redis, self._prefix, self._url = client, prefix, redis_url
        self._pool: ProcessPoolExecutor | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _key(self, tenant: str, job: str) -> str:
        return f"{self._prefix}:advice:{tenant}:{job}"

    def _slot(self, tenant: str) -> str:
        return f"{self._prefix}:advice:{tenant}:running"

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            spawn = multiprocessing.get_context("spawn")  # nothing of the event loop is copied
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=spawn)
        return self._pool

    async def start(
        self,
        tenant: str,
        queue: str,
        events: Sequence[QueueEvent],
        *,
        day: str | None,
        confidence: float,
        counts: Sequence[int] | None,
    ) -> dict[str, Any]:
        """A new job's state; Busy if the tenant has one under way, Full if this process has
        `MAX_WAITING` already."""
        if len(self._tasks) >= MAX_WAITING:
            raise Full
        job = str(uuid.uuid4())
        if not await self._redis.set(self._slot(tenant), job, nx=True, ex=MAX_RUN_S):
            raise Busy
        key = self._key(tenant, job)
        now = time.time()
        state: dict[Any, Any] = {
            "job_id": job,
            "queue_id": queue,
            "kind": "plan" if counts is None else "check",
            "status": "queued",
            "phase": "queued",
            "done": 0,
            "total": "",
            "confidence": confidence,
            "created": now,
            "heartbeat": now,
        }
        try:
            await self._redis.hset(key, mapping=state)
            await self._redis.expire(key, KEEP_S)
        except Exception:  # no job after all: free the tenant's slot if Redis lets us
            with contextlib.suppress(Exception):
                await self._redis.delete(self._slot(tenant))
            raise
        from advice_api.worker import compute

        future = self._executor().submit(
            compute, list(events), day, confidence, counts, self._url, key
        )
        task = asyncio.create_task(self._finish(tenant, job, asyncio.wrap_future(future)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await self.get(tenant, job) or state

    async def _finish(self, tenant: str, job: str, future: asyncio.Future[Any]) -> None:
        key = self._key(tenant, job)
        try:
            while True:  # a job waiting its turn shows it is alive (the worker's progress does
                # that once it runs; a queued job's heartbeat comes from here)
                done, _ = await asyncio.wait({future}, timeout=STALE_S / 4)
                if done:
                    break
                with contextlib.suppress(Exception):  # Redis away: the job goes on
                    if await self._redis.hget(key, "status") == b"queued":
                        await self._redis.hset(key, "heartbeat", time.time())
            result = future.result()
            fields: dict[Any, Any] = {
                "status": "done",
                "phase": "done",
                "result": json.dumps(result),
            }
        except Exception as exc:  # the plan's refusal (too little history) or a crash
            # A refusal says why in the job; a crash is a bug: its traceback is for the operator.
            crashed = not isinstance(exc, ValueError)
            log.warning("staffing job %s failed: %s", job, type(exc).__name__, exc_info=crashed)
            fields = {"status": "failed", "phase": "failed", "error": _error(exc)}
        try:
            await self._redis.hset(key, mapping={**fields, "heartbeat": time.time()})
            await self._redis.expire(key, KEEP_S)
            # Free the tenant's slot only if it is still this job's.
            if await self._redis.get(self._slot(tenant)) == job.encode():
                await self._redis.delete(self._slot(tenant))
        except Exception:  # Redis away: the slot expires by itself, the job reads interrupted
            log.warning("staffing job %s: its end could not be written", job)

    async def get(self, tenant: str, job: str) -> dict[str, Any] | None:
        raw = await self._redis.hgetall(self._key(tenant, job))
        if not raw:
            return None
        state = {_text(k): _text(v) for k, v in raw.items()}
        stale = time.time() - float(state["heartbeat"]) >= STALE_S
        if state["status"] in ("queued", "running") and stale:
            state.update(status="failed", phase="failed", error="interrupted: start it again")
        return state

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._pool is not None:
            # A plan under way ends with the API (its job then reads "interrupted"): the worker
            # is stopped, not waited for (the executor has no public way to stop it).
            workers = list(getattr(self._pool, "_processes", {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for worker in workers:
                worker.terminate()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _error(exc: BaseException) -> str:
    """What to tell the manager: a plan's own refusal as it is, anything else in one word."""
    if isinstance(exc, ValueError):
        return str(exc)[:300]
    return f"the plan could not be made ({type(exc).__name__})"
