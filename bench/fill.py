"""Fill an event store fast, through the event store: real domain events in large appends.

Each queue's events come from the real `decide`/`evolve` (so every fold of them is valid), driven
by the benchmark's command mix on a simulated clock, and are appended a few thousand per
transaction with `PostgresEventStore.append`: the same write path as a command, minus HTTP and minus one
transaction per event.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.mix import COUNTERS, Order, QueueModel, answered, choose
from core.settings import Settings
from domain.commands import (
    CallNext,
    CancelTicket,
    CompleteService,
    CreateQueue,
    EnqueueTicket,
    MarkNoShow,
    QueueCommand,
    StartService,
)
from domain.config import QueueConfig
from domain.decide import decide
from domain.errors import Rejected
from domain.events import QueueEvent, TicketCalled
from domain.evolve import evolve
from domain.state import initial_state
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from eventstore.values import CommandContext, new_records

APPEND_BATCH = 2000
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@dataclass
class Filled:
    events: int = 0
    seconds: float = 0.0
    # queue id -> ticket ids waiting, for the queues filled with a long line
    lines: dict[str, list[str]] = field(default_factory=dict)


class Writer:
    """Appends one queue's events in batches, tracking its version (without a store: only
    keeps them, in `pending`)."""

    def __init__(self, store: PostgresEventStore | None, tenant_id: str, queue_id: str) -> None:
        self.store = store
        self.tenant_id = tenant_id
        self.state = initial_state(queue_id)
        self.pending: list[QueueEvent] = []
        self.written = 0
        self.now = START

    def apply(self, command: QueueCommand) -> list[QueueEvent]:
        self.now += timedelta(milliseconds=200)
        events = decide(self.state, command, self.now)
        for event in events:
            evolve(self.state, event)
        self.pending.extend(events)
        return events

    async def flush(self) -> None:
        if not self.pending:
            return
        assert self.store is not None
        version = self.state.version - len(self.pending)
        command_id = str(uuid.uuid4())
        context = CommandContext(
            command_id=command_id,
            correlation_id=command_id,
            actor="system:bench",
            occurred_at=self.now,
        )
        append = new_records(
            stream_id=self.state.queue_id,
            tenant_id=self.tenant_id,
            expected_version=version,
            events=self.pending,
            context=context,
        )
        await self.store.append([append])
        self.written += len(self.pending)
        self.pending = []


def create(writer: Writer) -> None:
    config = QueueConfig(name="Bench", prefix="B", counters=COUNTERS)
    writer.apply(
        CreateQueue(
            queue_id=writer.state.queue_id, tenant_id=writer.tenant_id, config=config, status="open"
        )
    )


async def _long_line(
    store: PostgresEventStore, tenant_id: str, waiting: int
) -> tuple[str, list[str]]:
    writer = Writer(store, tenant_id, str(uuid.uuid4()))
    create(writer)
    tickets = []
    for _ in range(waiting):
        ticket_id = str(uuid.uuid4())
        writer.apply(EnqueueTicket(ticket_id=ticket_id, channel="kiosk"))
        tickets.append(ticket_id)
        if len(writer.pending) >= APPEND_BATCH:
            await writer.flush()
    await writer.flush()
    return writer.state.queue_id, tickets


def _command(
    model: QueueModel, rng: random.Random, new_id: Callable[[], str]
) -> tuple[Order, QueueCommand]:
    order = choose(model, 0, rng)
    if order.op == "enqueue":
        return order, EnqueueTicket(ticket_id=new_id(), channel="kiosk")
    if order.op == "call-next":
        return order, CallNext(counter=order.counter or COUNTERS[0])
    assert order.ticket_id is not None
    if order.op == "cancel":
        return order, CancelTicket(ticket_id=order.ticket_id, by="staff")
    if order.op == "start":
        return order, StartService(ticket_id=order.ticket_id)
    if order.op == "complete":
        return order, CompleteService(ticket_id=order.ticket_id)
    return order, MarkNoShow(ticket_id=order.ticket_id)


def step(
    writer: Writer,
    model: QueueModel,
    rng: random.Random,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> None:
    """One command of the realistic mix applied to the queue (a refusal changes nothing)."""
    order, command = _command(model, rng, new_id)
    try:
        made = writer.apply(command)
    except Rejected:
        made = []
    ticket = getattr(command, "ticket_id", None) if order.op == "enqueue" else None
    if made and isinstance(made[0], TicketCalled):
        ticket = made[0].ticket_id
    answered(model, order, bool(made), ticket)


async def _busy_queue(store: PostgresEventStore, tenant_id: str, events: int, seed: int) -> int:
    """A queue with `events` events of the realistic mix."""
    writer = Writer(store, tenant_id, str(uuid.uuid4()))
    create(writer)
    model, rng = QueueModel(writer.state.queue_id), random.Random(seed)
    while writer.written + len(writer.pending) < events:
        step(writer, model, rng)
        if len(writer.pending) >= APPEND_BATCH:
            await writer.flush()
    await writer.flush()
    return writer.written


async def fill(
    settings: Settings,
    tenant_id: str,
    total_events: int,
    lines: tuple[int, ...],
    busy_queues: int,
    concurrency: int = 4,
) -> Filled:
    """Long lines of the given sizes, then busy queues up to `total_events` events in all."""
    pool = await open_pool(settings, min_size=concurrency, max_size=concurrency, wait=True)
    store = PostgresEventStore(pool)
    filled = Filled()
    started = time.monotonic()
    try:
        for size in lines:
            queue_id, tickets = await _long_line(store, tenant_id, size)
            filled.lines[queue_id] = tickets
        rest = max(total_events - sum(lines) - len(lines), 0)
        per_queue = max(rest // max(busy_queues, 1), 1)
        gate = asyncio.Semaphore(concurrency)

        async def one(seed: int) -> int:
            async with gate:
                return await _busy_queue(store, tenant_id, per_queue, seed)

        counts = await asyncio.gather(*(one(i) for i in range(busy_queues if rest else 0)))
        filled.events = sum(lines) + len(lines) + sum(counts)
    finally:
        await pool.close()
    filled.seconds = time.monotonic() - started
    return filled


def describe(filled: Filled) -> dict[str, Any]:
    return {
        "events": filled.events,
        "seconds": round(filled.seconds, 1),
        "events_per_s": round(filled.events / max(filled.seconds, 1e-9)),
    }
