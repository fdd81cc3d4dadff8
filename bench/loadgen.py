"""Open-loop load generator: commands at a fixed arrival rate, in a process of its own.

Open loop: request i is due at t0 + i/rate whether or not earlier ones were answered, and its
latency is measured from that due time, so a stall of the server (or of this process) shows up
as latency instead of silently lowering the rate (coordinated omission). A request that finds
every connection busy waits for one, and that wait is latency too.

Run as `python -m bench.loadgen CONFIG.json`; it writes its results to the path named in the
config. It runs on its own core share: on 2 cores it still competes with the API (see README).
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.aio import run
from bench.httpclient import HttpError, HttpPool, build_request
from bench.mix import Order, QueueModel, answered, choose

TIMEOUT_S = 10.0


@dataclass(slots=True)
class Sample:
    due: float
    op: str
    queue: int
    status: int  # 0: transport error or timeout
    done: float
    version: int


class Generator:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        host, _, port = config["url"].removeprefix("http://").partition(":")
        self.host = f"{host}:{port}"
        self.pool = HttpPool(host, int(port), config.get("connections", 256))
        self.queues = [QueueModel(q) for q in config["queues"]]
        self.rng = random.Random(config.get("seed", 7))
        self.idempotency = bool(config.get("idempotency", True))
        self.staff = {"Authorization": f"Bearer {config['staff_key']}"}
        self.kiosk = {"Authorization": f"Bearer {config['kiosk_key']}"}
        self.samples: list[Sample] = []

    def _request(self, order: Order) -> bytes:
        queue_id = self.queues[order.queue].queue_id
        headers = dict(self.kiosk if order.op == "enqueue" else self.staff)
        if self.idempotency:  # what a retry-safe client (a kiosk) sends with every command
            headers["Idempotency-Key"] = uuid.uuid4().hex
        if order.op == "enqueue":
            return build_request(
                "POST",
                f"/v1/queues/{queue_id}/tickets",
                self.host,
                headers,
                b'{"channel": "kiosk"}',
            )
        if order.op == "call-next":
            body = json.dumps({"counter": order.counter}).encode()
            return build_request(
                "POST", f"/v1/queues/{queue_id}/call-next", self.host, headers, body
            )
        return build_request(
            "POST", f"/v1/tickets/{order.ticket_id}/{order.op}", self.host, headers
        )

    async def _one(self, due: float, order: Order) -> None:
        raw = self._request(order)
        status, version, ticket_id = 0, 0, None
        try:
            async with asyncio.timeout(TIMEOUT_S):
                status, body = await self.pool.request(raw)
            if status < 300:
                answer = json.loads(body)
                version = int(answer["stream_version"])
                ticket = answer.get("ticket") or {}
                ticket_id = ticket.get("ticket_id")
        except (HttpError, TimeoutError, ValueError, KeyError):
            pass
        done = time.monotonic()
        answered(self.queues[order.queue], order, 200 <= status < 300, ticket_id)
        self.samples.append(Sample(due, order.op, order.queue, status, done, version))

    async def run(self) -> dict[str, Any]:
        rate = float(self.config["rate"])
        total_s = float(self.config["warmup_s"]) + float(self.config["duration_s"])
        count = int(rate * total_s)
        tasks: set[asyncio.Task[None]] = set()
        start = time.monotonic() + 0.05
        for i in range(count):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0.0005:  # sleep only when it is worth it; late ones go out at once
                await asyncio.sleep(delay)
            index = self.rng.randrange(len(self.queues))
            order = choose(self.queues[index], index, self.rng)
            task = asyncio.create_task(self._one(due, order))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=TIMEOUT_S + 1)
        await self.pool.close()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "start": start,
            "warmup_s": float(self.config["warmup_s"]),
            "duration_s": float(self.config["duration_s"]),
            "rate": rate,
            "samples": [[s.due, s.op, s.queue, s.status, s.done, s.version] for s in self.samples],
        }


def main() -> int:
    config = json.loads(Path(sys.argv[1]).read_text())
    result = run(Generator(config).run())
    Path(config["out"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
