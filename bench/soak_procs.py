"""The soak's two helper processes, which hand over what they see as they go (not at the end).

* `python -m bench.soak_procs load CONFIG.json`: the open-loop generator and mix of the HTTP
  phase (bench/loadgen.py, bench/mix.py), for as long as the soak lasts (what the mix learns
  from a 503 or a timeout: `StreamingGenerator._one`). Every `FLUSH_S` it
  appends the commands answered since the last flush to the file named `out` as one JSON line
  (`{"at": when, "rows": [[due, op, queue, status, done, version], ...]}`, `op` an index into
  `bench.mix.OPS`), and forgets them: an hour at 100/s keeps ~50 answers in memory, not 360,000.
  Its last line is `{"end": ..., "cpu_s": ...}`.
* `python -m bench.soak_procs observe CONFIG.json`: one SSE stream per queue
  (`GET /v1/queues/{id}/events`, as bench/observer.py follows them, reconnecting when a stream
  ends), appending `{"at": when, "rows": [[queue, version, arrived], ...]}` the same way. It
  prints `ready` once every stream sent its first event, and stops on SIGTERM.

Times are `time.monotonic()`: one clock for every process on Linux, so they compare.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bench.aio import run
from bench.httpclient import HttpError, build_request, sse_ids
from bench.loadgen import TIMEOUT_S, Generator, Sample
from bench.mix import OPS, Order, QueueModel, answered

FLUSH_S = 0.5
RECONNECT_S = 1.0
RESENDS = 3  # of a command not answered at all
RESEND_AFTER_S = 1.0


def _write(sink: TextIO, line: dict[str, Any]) -> None:
    sink.write(json.dumps(line, separators=(",", ":")) + "\n")
    sink.flush()


class StreamingGenerator(Generator):
    """The load generator, its answers written out every `FLUSH_S` instead of kept."""

    def __init__(self, config: dict[str, Any], sink: TextIO) -> None:
        super().__init__(config)
        self.sink = sink
        self.resent = 0  # since the last flush

    async def _one(self, due: float, order: Order) -> None:
        """As bench/loadgen.py's, except for what the mix learns from a failure. A 503 is a
        refusal before anything was applied (a busy queue, no database connection): the ticket
        the order took goes back where it was, as if never sent. No answer at all (a timeout)
        says nothing: the same request, so the same Idempotency-Key, is sent again (up to
        `RESENDS` times, `RESEND_AFTER_S` apart) until it is answered, as a retry-safe client
        would. Without both, every lost `start` or `complete` would leave a counter the mix
        believes busy (or free) for good, and over an hour the mix would drift to enqueues only.
        The latency runs from the due time to the last answer."""
        raw = self._request(order)
        status, version, ticket_id = await self._send(raw)
        for _ in range(RESENDS):
            if status != 0:
                break
            self.resent += 1
            await asyncio.sleep(RESEND_AFTER_S)
            status, version, ticket_id = await self._send(raw)
        done = time.monotonic()
        model = self.queues[order.queue]
        if status == 503 and order.ticket_id is not None:
            _unsent(model, order)
        else:
            answered(model, order, 200 <= status < 300, ticket_id)
        self.samples.append(Sample(due, order.op, order.queue, status, done, version))

    async def _send(self, raw: bytes) -> tuple[int, int, str | None]:
        """(status, 0 when no answer; stream version answered; ticket id answered)."""
        status, version, ticket_id = 0, 0, None
        try:
            async with asyncio.timeout(TIMEOUT_S):
                status, body = await self.pool.request(raw)
            if status < 300:
                answer = json.loads(body)
                version = int(answer["stream_version"])
                ticket_id = (answer.get("ticket") or {}).get("ticket_id")
        except (HttpError, TimeoutError, ValueError, KeyError):
            pass
        return status, version, ticket_id

    def flush(self) -> None:
        # `_one` appends to whatever list `self.samples` is when it finishes: swapping it is
        # atomic on the event loop, so no answer is written twice or lost.
        rows, self.samples = self.samples, []
        resent, self.resent = self.resent, 0
        _write(
            self.sink,
            {
                "at": round(time.monotonic(), 4),
                "resent": resent,
                "rows": [
                    [
                        round(s.due, 4),
                        OPS.index(s.op),
                        s.queue,
                        s.status,
                        round(s.done, 4),
                        s.version,
                    ]
                    for s in rows
                ],
            },
        )

    async def _flushing(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            self.flush()

    async def stream(self) -> None:
        flushing = asyncio.create_task(self._flushing())
        try:
            result = await self.run()  # its "samples" are the ones not flushed yet: below
        finally:
            flushing.cancel()
        self.flush()
        _write(self.sink, {"end": round(time.monotonic(), 4), "cpu_s": result["cpu_s"]})


@dataclass
class Seen:
    streams: int
    rows: list[list[Any]] = field(default_factory=list)  # [queue, version, arrived]
    counts: dict[str, int] = field(default_factory=lambda: {"ended": 0, "failed": 0})
    live: set[int] = field(default_factory=set)
    all_live: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, index: int, version: int) -> None:
        self.rows.append([index, version, round(time.monotonic(), 4)])
        if index not in self.live:  # each stream starts with the queue's current view
            self.live.add(index)
            if len(self.live) == self.streams:
                self.all_live.set()


def _unsent(model: QueueModel, order: Order) -> None:
    """An order on a ticket that was refused before anything happened: the ticket goes back."""
    assert order.ticket_id is not None
    if order.op == "cancel":
        model.waiting.append(order.ticket_id)  # the newest, where `choose` took it from
    elif order.op == "complete":
        model.serving.append(order.ticket_id)  # still at its counter: `counter_of` kept it
    else:  # start, no-show
        model.called.append(order.ticket_id)


async def _follow(config: dict[str, Any], index: int, seen: Seen) -> None:
    """One queue's SSE stream for as long as the soak lasts (cancelled at the end)."""
    host, _, port = config["api"].removeprefix("http://").partition(":")
    raw = build_request(
        "GET",
        f"/v1/queues/{config['queues'][index]}/events",
        f"{host}:{port}",
        {"Authorization": f"Bearer {config['viewer_key']}", "Accept": "text/event-stream"},
    )
    while True:
        try:
            async for version in sse_ids(host, int(port), raw):
                seen.add(index, version)
            seen.counts["ended"] += 1  # the API closed it: a browser would reconnect too
        except (HttpError, OSError) as exc:
            seen.counts["failed"] += 1
            print(f"soak observer: SSE {index}: {type(exc).__name__}: {exc}", file=sys.stderr)
        await asyncio.sleep(RECONNECT_S)


async def observe(config: dict[str, Any], sink: TextIO) -> None:
    seen = Seen(len(config["queues"]))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    tasks = [asyncio.create_task(_follow(config, i, seen)) for i in range(seen.streams)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(seen.all_live.wait(), 10)
    print("ready", flush=True)
    while not stop.is_set():
        rows, seen.rows = seen.rows, []  # nothing awaits in between: no arrival is lost
        _write(sink, {"at": round(time.monotonic(), 4), "rows": rows})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), FLUSH_S)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    _write(sink, {"at": round(time.monotonic(), 4), "rows": seen.rows})
    _write(sink, {"end": round(time.monotonic(), 4), **seen.counts})


def main() -> int:
    role, path = sys.argv[1], sys.argv[2]
    config = json.loads(Path(path).read_text())
    with Path(config["out"]).open("a") as sink:
        if role == "load":
            run(StreamingGenerator(config, sink).stream())
        elif role == "observe":
            run(observe(config, sink))
        else:
            raise SystemExit(f"usage: python -m bench.soak_procs load|observe CONFIG.json ({role})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
