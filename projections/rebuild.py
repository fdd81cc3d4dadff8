"""Rebuild read models from the event store, and check them against a fresh fold of it.

Both fold the system of record with the same `domain/` rules the write side uses and render with
the same view functions the stream processors use, so "rebuilt" and "checked" mean the same bytes.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from domain.recorded import RecordedEvent
from domain.state import QueueState
from eventstore.port import EventStore
from eventstore.values import Position
from projections.analytics import Measures, measure, total_commands
from projections.estimates import NEWCOMER, QueueEstimates, promised
from projections.layout import Keys
from projections.model import QueueModel
from projections.views import dumps, line_member, queue_view, ticket_view
from projections.writer import Applied, Batch, ReadModelWriter, eta_commands, full_render

log = logging.getLogger("vq.projections")

Progress = Callable[[int, int], None]
READ_BATCH = 5000
# How often a fold that has read all it can asks whether the transactions begun before it ended.
SETTLE_POLL_S = 0.05
SETTLE_TOLD_S = 5.0  # a wait this long is logged


@dataclass
class Folded:
    model: QueueModel  # the same fold as the stream processors'
    measures: Measures = field(default_factory=Measures)

    @property
    def state(self) -> QueueState:
        return self.model.state

    @property
    def estimates(self) -> QueueEstimates:
        return self.model.estimates


async def fold_store(
    store: EventStore, queue_ids: set[str] | None = None, progress: Progress | None = None
) -> dict[str, Folded]:
    """Every queue (or those named) folded from the event store, reading it once in global order,
    with the analytics its events add up to: every event committed before the fold began, and
    maybe some after. `read_all` stops below the oldest transaction still writing anywhere on
    the server (it never passes over one that commits later), so once it has nothing more the
    fold waits until every transaction begun before it has ended, and reads once more."""
    folded: dict[str, Folded] = {}
    seen = 0
    _, began = await store.read_horizon()
    settled, waits = False, 0
    position = Position.start()
    # Read ahead: PostgreSQL runs the next batch's query while this process folds this one.
    ahead = asyncio.create_task(store.read_all(position, READ_BATCH))
    try:
        while True:
            batch = await ahead
            if not batch:
                if settled:
                    break
                oldest, _ = await store.read_horizon()
                settled = oldest >= began
                if not settled:
                    waits += 1
                    if waits == round(SETTLE_TOLD_S / SETTLE_POLL_S):  # once: an operator knows why
                        log.warning(
                            "read all up to transaction %s, still writing; waiting for the "
                            "transactions begun before this fold (up to %s) to end",
                            oldest,
                            began,
                        )
                    await asyncio.sleep(SETTLE_POLL_S)
                ahead = asyncio.create_task(store.read_all(position, READ_BATCH))
                continue
            position = batch[-1][0]
            ahead = asyncio.create_task(store.read_all(position, READ_BATCH))
            await asyncio.sleep(0)  # let it send the query before the fold takes the CPU
            _fold_batch(folded, batch, queue_ids)
            seen += len(batch)
            if progress is not None:
                progress(seen, 0)
    finally:
        ahead.cancel()
    return folded


def _fold_batch(
    folded: dict[str, Folded],
    batch: list[tuple[Position, RecordedEvent]],
    queue_ids: set[str] | None,
) -> None:
    for _, record in batch:
        if queue_ids is not None and record.queue_id not in queue_ids:
            continue
        entry = folded.get(record.queue_id)
        if entry is None:
            entry = folded[record.queue_id] = Folded(QueueModel.new(record.queue_id))
        event = record.event
        ticket_id = getattr(event, "ticket_id", None)
        before = entry.state.tickets.get(ticket_id) if ticket_id else None
        shown = promised(entry.model.estimates, ticket_id)
        entry.measures.merge(measure(entry.state.config, before, event, shown))
        entry.model.apply(event)


@dataclass
class RebuildReport:
    queues: int = 0
    events: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0  # the largest folding process's (parallel rebuilds)


async def rebuild(
    store: EventStore,
    client: aioredis.Redis,
    keys: Keys,
    queue_ids: set[str] | None = None,
    progress: Progress | None = None,
    *,
    retention_s: int = 400 * 86400,
) -> RebuildReport:
    """Write the read models of every queue (or those named) whole, from the event store."""
    started = time.monotonic()
    folded = await fold_store(store, queue_ids, progress)
    if queue_ids is None:  # a full rebuild also drops whatever no event explains any more
        await delete_all(client, keys)
    writer = ReadModelWriter(client, keys)
    report = RebuildReport()
    # Pipelined: Redis runs one queue's script while the next queue is rendered. One script in
    # flight at a time keeps memory bounded and each queue's write atomic, as before.
    writing: asyncio.Task[Applied] | None = None
    try:
        for index, entry in enumerate(folded.values(), start=1):
            state = entry.state
            if not state.created:
                continue
            entry.estimates.fill(state)
            commands = [
                ("DEL", keys.eta(state.tenant_id, state.queue_id)),
                *full_render(keys, state, entry.estimates),
                *eta_commands(keys, state, entry.estimates.etas, set()),
            ]
            commands += total_commands(
                keys, state.tenant_id, state.queue_id, entry.measures, retention_s
            )
            batch = Batch(
                tenant=state.tenant_id,
                queue=state.queue_id,
                first=0,
                last=state.version,
                commands=commands,
            )
            if writing is not None:
                await writing
            writing = asyncio.create_task(writer.apply(batch, force=True))
            await asyncio.sleep(0)  # let it send the script before the next render
            report.queues += 1
            report.events += state.version
            if progress is not None:
                progress(index, len(folded))
        if writing is not None:
            await writing
    finally:
        if writing is not None:
            writing.cancel()
    report.seconds = time.monotonic() - started
    return report


async def delete_all(client: aioredis.Redis, keys: Keys) -> None:
    pending: list[Any] = []
    async for key in client.scan_iter(match=keys.all_keys(), count=1000):
        pending.append(key)
        if len(pending) >= 1000:
            await client.unlink(*pending)
            pending.clear()
    if pending:
        await client.unlink(*pending)


# -- check --------------------------------------------------------------------------------------

Value = str | dict[str, str] | list[str] | set[str] | None


def expected_keys(keys: Keys, state: QueueState, estimates: QueueEstimates) -> dict[str, Value]:
    """Every key (and its value) the read model of this queue must have. The wait ranges (the
    eta hash) depend on when batches were cut: for them, which tickets have one is what counts,
    so that key's expected value is the set of its fields."""
    tenant, queue = state.tenant_id, state.queue_id
    eta_fields = {key[3] for key in state.waiting}
    if estimates.newcomer(state) is not None:  # (an empty line has one too: "join now")
        eta_fields.add(NEWCOMER)
    expected: dict[str, Value] = {
        keys.accuracy(tenant, queue): dumps(estimates.accuracy(state)),
        keys.eta(tenant, queue): eta_fields or None,
        keys.queue(tenant, queue): {
            "version": str(state.version),
            "view": dumps(queue_view(state)),
        },
        # Redis keeps no empty collections: an empty line is no key at all.
        keys.line(tenant, queue): [line_member(state, state.tickets[k[3]]) for k in state.waiting]
        or None,
        keys.ticket_index(tenant, queue): set(state.tickets) or None,
    }
    for ticket_id, ticket in state.tickets.items():
        expected[keys.ticket(tenant, queue, ticket_id)] = dumps(
            ticket_view(state, ticket, estimates.facts(ticket_id))
        )
        if ticket.enqueued_here:
            expected[keys.home(tenant, ticket_id)] = queue
    return expected


async def actual_keys(
    client: aioredis.Redis, keys: Keys, state: QueueState, names: Iterable[str]
) -> dict[str, Value]:
    tenant, queue = state.tenant_id, state.queue_id
    members = await client.smembers(keys.ticket_index(tenant, queue))
    index = {m.decode() if isinstance(m, bytes) else m for m in members}
    extra = [keys.ticket(tenant, queue, t) for t in index]
    wanted = list(dict.fromkeys([*names, *extra]))
    pipe = client.pipeline(transaction=False)
    for name in wanted:
        pipe.type(name)
    types = [t.decode() if isinstance(t, bytes) else str(t) for t in await pipe.execute()]
    pipe = client.pipeline(transaction=False)
    for name, kind in zip(wanted, types, strict=True):
        if kind == "hash":
            pipe.hgetall(name)
        elif kind == "zset":
            pipe.zrange(name, 0, -1)
        elif kind == "set":
            pipe.smembers(name)
        else:
            pipe.get(name)  # a string, or nothing there (None)
    found: dict[str, Value] = {}
    for name, kind, raw in zip(wanted, types, await pipe.execute(), strict=True):
        found[name] = _decode(kind, raw)
    return found


def _decode(kind: str, raw: Any) -> Value:
    if kind == "hash":
        return {k.decode(): v.decode() for k, v in raw.items()}
    if kind == "zset":
        return [m.decode() for m in raw]
    if kind == "set":
        return {m.decode() for m in raw}
    if kind == "string" and isinstance(raw, bytes):
        return raw.decode()
    return None


@dataclass
class CheckReport:
    queues: int = 0
    differences: list[str] = field(default_factory=list)


async def check(
    store: EventStore, client: aioredis.Redis, keys: Keys, queue_ids: set[str] | None = None
) -> CheckReport:
    report = CheckReport()
    folded = await fold_store(store, queue_ids)
    for entry in folded.values():
        state = entry.state
        if not state.created:
            continue
        report.queues += 1
        expected = expected_keys(keys, state, entry.estimates)
        actual = await actual_keys(client, keys, state, expected)
        eta = keys.eta(state.tenant_id, state.queue_id)
        if isinstance(found := actual.get(eta), dict):
            actual[eta] = set(found)
        for name in sorted(set(expected) | set(actual)):
            want, have = expected.get(name), actual.get(name)
            if want != have:
                report.differences.append(_describe(state, name, want, have))
        line = actual.get(keys.line(state.tenant_id, state.queue_id)) or []
        if len(line) != len(state.waiting):
            report.differences.append(
                f"queue {state.queue_id}: {len(line)} in the Redis line, "
                f"{len(state.waiting)} waiting in the event store"
            )
    return report


def _describe(state: QueueState, name: str, want: Value, have: Value) -> str:
    def short(value: Value) -> str:
        text = repr(value)
        return text if len(text) < 300 else text[:300] + "..."

    return f"queue {state.queue_id}: {name}\n    expected {short(want)}\n    found    {short(have)}"


def progress_bar(label: str) -> Progress:
    """A one-line progress display on stderr (a bar when the total is known)."""
    started = time.monotonic()

    def show(done: int, total: int) -> None:
        rate = done / max(time.monotonic() - started, 1e-9)
        if total:
            filled = int(30 * done / total)
            bar = "#" * filled + "." * (30 - filled)
            sys.stderr.write(f"\r{label} [{bar}] {done}/{total} queues")
        else:
            sys.stderr.write(f"\r{label}: {done:,} events read ({rate:,.0f}/s)   ")
        sys.stderr.flush()

    return show
