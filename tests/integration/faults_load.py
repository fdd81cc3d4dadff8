"""Mixed command traffic over HTTP for the fault test, as a retry-safe client sends it.

Commands come at a steady rate (bench/mix.py's state machine: enqueue, call-next, start,
complete, no-show, cancel across a few queues). Each command carries one Idempotency-Key for all
its attempts and is tried again on a network error or a 503 (with back-off, honouring
Retry-After up to a second) until it gets an answer or `GIVE_UP_S` passes. Every attempt is
recorded (when, what status), and every acknowledged command with the stream version and event
ids it was answered with, so the test can find each acknowledged event in the store and measure
each fault's unavailability window (`Window`). And what the test checks against the store: the
read model's versions (GET /v1/queues) and the events topic, read as any consumer would.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from bench.mix import Order, QueueModel, answered, choose
from core.settings import Settings

ATTEMPT_TIMEOUT_S = 10.0  # an answer slower than this is a hang, counted as such
GIVE_UP_S = 30.0
BACKOFF_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.0)
NO_ANSWER = 0  # connection refused or reset, or the answer cut short
HANG = -1  # no answer within ATTEMPT_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class Attempt:
    sent: float  # time.monotonic()
    done: float
    op: str
    status: int  # HTTP status, NO_ANSWER or HANG
    problem: str  # the problem type of a 4xx/5xx, the exception of NO_ANSWER/HANG

    @property
    def answered(self) -> bool:
        """The API did its job: a result (2xx) or a reasoned refusal (4xx)."""
        return 200 <= self.status < 500


@dataclass(frozen=True, slots=True)
class Ack:
    key: str  # the Idempotency-Key
    op: str
    queue_id: str
    stream_version: int
    event_ids: tuple[str, ...]
    replayed: bool  # the answer of an earlier attempt that committed (Idempotent-Replayed)
    attempts: int
    done: float


class Traffic:
    def __init__(
        self,
        base: str,
        queues: list[str],
        keys: dict[str, str],
        rate: float,
        *,
        max_in_flight: int = 64,
        seed: int = 13,
    ) -> None:
        self.base = base
        self.models = [QueueModel(queue_id) for queue_id in queues]
        self.keys = keys
        self.rate = rate
        self.max_in_flight = max_in_flight
        self.rng = random.Random(seed)
        self.attempts: list[Attempt] = []
        self.acks: list[Ack] = []
        self.gave_up: list[tuple[str, str, str]] = []  # (key, op, queue_id)
        self.sent = 0
        self.refused: Counter[str] = Counter()  # problem types of 4xx answers

    # -- sending -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Commands at `rate` per second until `stop`; then waits for those under way."""
        limits = httpx.Limits(max_connections=self.max_in_flight, max_keepalive_connections=16)
        tasks: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(self.max_in_flight)
        async with httpx.AsyncClient(base_url=self.base, limits=limits) as http:
            start = time.monotonic()
            while not stop.is_set():
                due = start + self.sent / self.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await slots.acquire()  # a bounded client: a full house waits (rate dips)
                index = self.rng.randrange(len(self.models))
                order = choose(self.models[index], index, self.rng)
                task = asyncio.create_task(self._command(http, order))
                task.add_done_callback(tasks.discard)
                task.add_done_callback(lambda _: slots.release())
                tasks.add(task)
                self.sent += 1
            if tasks:
                await asyncio.gather(*tasks)

    def _request(self, order: Order) -> tuple[str, dict[str, Any] | None, str]:
        queue_id = self.models[order.queue].queue_id
        if order.op == "enqueue":
            return f"/v1/queues/{queue_id}/tickets", {"channel": "kiosk"}, self.keys["kiosk"]
        if order.op == "call-next":
            return (
                f"/v1/queues/{queue_id}/call-next",
                {"counter": order.counter},
                self.keys["staff"],
            )
        return f"/v1/tickets/{order.ticket_id}/{order.op}", None, self.keys["staff"]

    async def _command(self, http: httpx.AsyncClient, order: Order) -> None:
        path, body, key = self._request(order)
        idempotency_key = uuid.uuid4().hex
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": idempotency_key}
        queue_id = self.models[order.queue].queue_id
        first = time.monotonic()
        tries = 0
        while True:
            tries += 1
            response, attempt = await self._attempt(http, order.op, path, body, headers)
            self.attempts.append(attempt)
            if attempt.answered:
                assert response is not None
                break
            if time.monotonic() - first > GIVE_UP_S:
                self.gave_up.append((idempotency_key, order.op, queue_id))
                answered(self.models[order.queue], order, False, None)
                return
            pause = BACKOFF_S[min(tries, len(BACKOFF_S)) - 1]
            if response is not None and "retry-after" in response.headers:
                pause = max(pause, min(float(response.headers["retry-after"]), 1.0))
            await asyncio.sleep(pause * (0.5 + self.rng.random()))
        ok = response.status_code < 300
        ticket_id = None
        if ok:
            answer = response.json()
            ticket_id = (answer.get("ticket") or {}).get("ticket_id")
            self.acks.append(
                Ack(
                    key=idempotency_key,
                    op=order.op,
                    queue_id=answer["queue_id"],
                    stream_version=int(answer["stream_version"]),
                    event_ids=tuple(answer["event_ids"]),
                    replayed=response.headers.get("idempotent-replayed") == "true",
                    attempts=tries,
                    done=attempt.done,
                )
            )
        else:
            self.refused[attempt.problem] += 1
        answered(self.models[order.queue], order, ok, ticket_id)

    async def _attempt(
        self,
        http: httpx.AsyncClient,
        op: str,
        path: str,
        body: dict[str, Any] | None,
        headers: dict[str, str],
    ) -> tuple[httpx.Response | None, Attempt]:
        sent = time.monotonic()
        try:
            response = await http.post(path, json=body, headers=headers, timeout=ATTEMPT_TIMEOUT_S)
        except httpx.TimeoutException as exc:
            return None, Attempt(sent, time.monotonic(), op, HANG, type(exc).__name__)
        except httpx.TransportError as exc:
            return None, Attempt(sent, time.monotonic(), op, NO_ANSWER, type(exc).__name__)
        problem = ""
        if response.status_code >= 400:
            try:
                problem = str(response.json().get("type", ""))
            except ValueError:
                problem = response.text[:80]
        return response, Attempt(sent, time.monotonic(), op, response.status_code, problem)

    # -- what was acknowledged -----------------------------------------------------------------

    def acked_versions(self) -> dict[str, int]:
        """The newest acknowledged stream version of each queue so far."""
        newest: dict[str, int] = {}
        for ack in self.acks:
            newest[ack.queue_id] = max(newest.get(ack.queue_id, 0), ack.stream_version)
        return newest

    def answered_since(self, moment: float) -> bool:
        """Has a command sent at or after `moment` been answered (2xx or 4xx)?"""
        return any(a.sent >= moment and a.answered for a in reversed(self.attempts[-200:]))

    def statuses(self) -> Counter[int]:
        return Counter(a.status for a in self.attempts)


async def read_versions(http: httpx.AsyncClient, viewer: str) -> dict[str, int] | None:
    """Each queue's version in the read model (GET /v1/queues), or None when it cannot say."""
    try:
        response = await http.get("/v1/queues", headers={"Authorization": f"Bearer {viewer}"})
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        assert response.status_code == 503, f"GET /v1/queues: {response.status_code}"
        return None
    return {q["queue_id"]: int(q["version"]) for q in response.json()["queues"]}


async def wait_caught_up(
    http: httpx.AsyncClient, viewer: str, target: dict[str, int], timeout: float
) -> float:
    """Wait until every queue's read model reached its `target` version; when it did."""
    deadline = time.monotonic() + timeout
    seen: dict[str, int] | None = None
    while True:
        seen = await read_versions(http, viewer) or seen
        if seen is not None and all(seen.get(q, 0) >= v for q, v in target.items()):
            return time.monotonic()
        assert time.monotonic() < deadline, f"read model stuck at {seen}, expected {target}"
        await asyncio.sleep(0.1)


@dataclass
class Window:
    """One fault and how long commands and the read model suffered from it (time.monotonic())."""

    fault: str
    killed: float
    restarted: float  # started again (by the supervisor, or the operator's `vq stack up`)
    up: float | None  # answered again (/healthz, or `vq stack up` returned); None: not probed
    caught_up: float  # the read model reached what was acknowledged when it was up
    end: float = 0.0  # the next fault (or the end of the traffic)
    failed: int = 0  # attempts without an answer (refused, reset, 503, hang)
    first_fail: float | None = None
    last_fail: float | None = None
    back: float | None = None  # the first answer to an attempt sent after the last failure

    def measure(self, attempts: list[Attempt]) -> None:
        mine = [a for a in attempts if self.killed <= a.sent < self.end]
        fails = [a for a in mine if not a.answered]
        self.failed = len(fails)
        if fails:
            self.first_fail = min(a.sent for a in fails)
            last = max(fails, key=lambda a: a.sent)
            self.last_fail = last.done
            later = [a.done for a in mine if a.answered and a.sent >= last.sent]
            self.back = min(later) if later else None

    def row(self) -> str:
        def rel(moment: float | None) -> str:
            return "-" if moment is None else f"{moment - self.killed:6.2f}"

        return (
            f"{self.fault:<11}{rel(self.restarted):>9}{rel(self.up):>9}{self.failed:>8}"
            f"{rel(self.first_fail):>10}{rel(self.last_fail):>11}{rel(self.back):>11}"
            f"{rel(self.caught_up):>12}"
        )


HEADER = (
    f"{'fault':<11}{'started':>9}{'up':>9}{'failed':>8}{'1st fail':>10}{'last fail':>11}"
    f"{'cmds back':>11}{'read model':>12}"
)


async def read_topic(settings: Settings, events: dict[tuple[str, int], tuple[str, str]]) -> Any:
    """Read the events topic from the start with a plain consumer until every stored event came
    and nothing more does (or 30 s pass); returns each queue's (version, event id) in the order Kafka gave them."""
    consumer = AIOKafkaConsumer(
        settings.events_topic,
        bootstrap_servers=settings.kafka_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    seen: dict[str, list[tuple[int, str]]] = {}
    got: set[tuple[str, int]] = set()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            if not batches and got >= events.keys():
                break  # everything stored came, and nothing more is coming
            for records in batches.values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    assert record.key is not None
                    queue = record.key.decode()
                    version = int(headers["ce_vqstreamversion"])
                    seen.setdefault(queue, []).append((version, headers["ce_id"]))
                    got.add((queue, version))
    finally:
        await consumer.stop()
    return seen


def check_topic(
    seen: dict[str, list[tuple[int, str]]], events: dict[tuple[str, int], tuple[str, str]]
) -> tuple[list[str], int]:
    """Per queue: versions 1..n in order, each the stored event; a version already delivered may
    come again (at-least-once) with the same event id. Returns the problems and the repeats."""
    wrong, repeats = [], 0
    stored_max = Counter[str]()
    for stream, version in events:
        stored_max[stream] = max(stored_max[stream], version)
    for stream in sorted(stored_max.keys() | seen.keys()):
        newest, ids = 0, dict[int, str]()
        for version, event_id in seen.get(stream, []):
            if version <= newest:
                repeats += 1
                if ids[version] != event_id:
                    wrong.append(f"{stream} v{version} came again as another event {event_id}")
            elif version == newest + 1:
                newest, ids[version] = version, event_id
                if events.get((stream, version), ("",))[0] != event_id:
                    wrong.append(f"{stream} v{version}: {event_id} is not the stored event")
            else:
                wrong.append(f"{stream}: v{version} came after v{newest} (a gap or disorder)")
                newest, ids[version] = version, event_id
        if newest != stored_max[stream]:
            wrong.append(f"{stream}: Kafka reached v{newest}, the store v{stored_max[stream]}")
    return wrong, repeats
