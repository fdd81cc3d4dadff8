"""Thousands of random commands on two queues; the invariants hold after every one."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from domain.commands import (
    CallNext,
    CallTicket,
    CancelTicket,
    ChangePriority,
    CloseQueue,
    CompleteService,
    CreateQueue,
    EnqueueTicket,
    MarkNoShow,
    OpenQueue,
    PauseQueue,
    PromoteAgedTickets,
    QueueCommand,
    RecallTicket,
    ReconfigureQueue,
    ResumeQueue,
    ReturnTicket,
    StartService,
    TransferTicket,
)
from domain.config import QueueConfig
from domain.decide import decide, decide_transfer
from domain.errors import Rejected
from domain.events import QueueEvent, TicketCalled
from domain.evolve import evolve, fold
from domain.policy import order_key
from domain.snapshot import from_snapshot, to_snapshot
from domain.state import (
    FINISHED_STATUSES,
    QueueState,
    initial_state,
    next_ticket,
    now_serving,
    position,
    waiting_ids,
)

STEPS = 4000
CONFIGS = {
    "qa": QueueConfig(
        name="A",
        prefix="A",
        counters=("1", "2", "3"),
        service_types=("pay", "ask"),
        capacity=40,
        timezone="Europe/Berlin",
        aging_after_seconds=400,
        no_show_grace_seconds=120,
        busy_counter_policy="close_previous",
    ),
    "qb": QueueConfig(
        name="B",
        prefix="B",
        counters=("x",),
        priority_classes=("high", "normal"),
        timezone="America/New_York",
        transfer_policy="back_of_line",
        capacity=25,
    ),
}
# 21:00 in Berlin: the run crosses local midnight in both zones.
START = datetime(2024, 3, 4, 20, 0, tzinfo=UTC)


@dataclass
class Queue:
    queue_id: str
    state: QueueState
    events: list[QueueEvent] = field(default_factory=list)


def check_invariants(queue: Queue) -> None:
    state = queue.state
    ids = waiting_ids(state)
    assert [position(state, t) for t in ids] == list(range(1, len(ids) + 1))
    by_status: dict[str, set[str]] = {}
    for ticket in state.tickets.values():
        by_status.setdefault(ticket.status, set()).add(ticket.ticket_id)
    assert set(ids) == by_status.get("waiting", set()) and len(set(ids)) == len(ids)
    keys = [order_key(state.config, state.tickets[t]) for t in ids]
    assert keys == sorted(keys)
    at_counter = [t for tickets in state.at_counters.values() for t in tickets]
    assert len(at_counter) == len(set(at_counter))
    assert set(at_counter) == by_status.get("called", set()) | by_status.get("serving", set())
    assert not set(at_counter) & set(ids)
    for counter, tickets in state.at_counters.items():
        assert tickets and all(state.tickets[t].counter == counter for t in tickets)
        assert len(tickets) == 1, f"two people at counter {counter}: {tickets}"
    assert set(now_serving(state).values()) <= set(at_counter)
    finished = {t for s in FINISHED_STATUSES for t in by_status.get(s, set())}
    assert set(state.finished) == finished
    assert all(t.seq < state.next_seq for t in state.tickets.values())
    assert state.version == len(queue.events)


def check_replays(queue: Queue) -> None:
    replayed = fold(queue.events, initial_state(queue.queue_id))
    restored = from_snapshot(to_snapshot(queue.state))
    assert replayed == queue.state == restored
    assert to_snapshot(replayed) == to_snapshot(queue.state) == to_snapshot(restored)
    assert waiting_ids(replayed) == waiting_ids(restored) == waiting_ids(queue.state)


def random_command(rng: random.Random, queue: Queue, serial: int, now: datetime) -> QueueCommand:
    state = queue.state
    config = state.config
    live = [t.ticket_id for t in state.tickets.values() if t.status not in ("served", "cancelled")]
    known = list(state.tickets) or ["none"]
    pick = rng.random()
    ticket_id = (
        rng.choice(live)
        if live and pick < 0.75
        else rng.choice(known)
        if pick < 0.97
        else f"ghost-{serial}"
    )
    counter = rng.choice(config.counters) if rng.random() < 0.97 else "nope"
    # Counters mostly act on the person at a counter (one at a time: few of the live tickets).
    at_counters = [t for ids in state.at_counters.values() for t in ids]
    there = rng.choice(at_counters) if at_counters and rng.random() < 0.6 else ticket_id
    no_shows = [t for t in state.tickets.values() if t.status == "no_show" and t.finished_at]
    latest_no_show = (
        max(no_shows, key=lambda t: t.finished_at or now).ticket_id if no_shows else None
    )
    roll = rng.random()
    if roll < 0.30:
        return EnqueueTicket(
            ticket_id=f"{queue.queue_id}-t{serial}" if rng.random() < 0.97 else ticket_id,
            priority=rng.choice([None, *config.priority_classes, "bogus"]),
            service_type=rng.choice([None, None, *config.service_types]),
        )
    if roll < 0.45:
        filters = [None, None, None, *((s,) for s in config.service_types)]
        return CallNext(counter=counter, service_types=rng.choice(filters))
    choices: list[QueueCommand] = [
        CallTicket(ticket_id=ticket_id, counter=counter, reason="staff"),
        RecallTicket(ticket_id=there),
        StartService(ticket_id=there),
        CompleteService(ticket_id=there),
        CompleteService(ticket_id=there),
        MarkNoShow(ticket_id=there),
        CancelTicket(ticket_id=ticket_id, by="customer"),
        ReturnTicket(ticket_id=latest_no_show or ticket_id),
        ChangePriority(
            ticket_id=ticket_id, priority=rng.choice(config.priority_classes), reason="why"
        ),
        PromoteAgedTickets(),
        PauseQueue() if rng.random() < 0.5 else ResumeQueue(),
        ResumeQueue(),
        ResumeQueue(),
        OpenQueue(),
        OpenQueue(),
        CloseQueue() if rng.random() < 0.3 else OpenQueue(),
        ReconfigureQueue(
            config=replace(
                config,
                priority_classes=tuple(reversed(config.priority_classes)),
                default_priority=config.priority_classes[0],
            )
        ),
        ReconfigureQueue(
            config=replace(config, busy_counter_policy=rng.choice(("refuse", "close_previous")))
        ),
    ]
    return rng.choice(choices)


def apply(queue: Queue, events: list[QueueEvent]) -> None:
    for event in events:
        queue.state = evolve(queue.state, event)
        queue.events.append(event)


def test_random_commands_keep_every_invariant() -> None:
    rng = random.Random(20240304)
    now = START
    queues = {qid: Queue(qid, initial_state(qid)) for qid in CONFIGS}
    for qid, config in CONFIGS.items():
        apply(
            queues[qid],
            decide(
                queues[qid].state, CreateQueue(queue_id=qid, tenant_id="tenant", config=config), now
            ),
        )
    accepted = rejected = busy_refused = closed_first = 0
    for step in range(STEPS):
        now += timedelta(seconds=rng.randint(0, 40))
        queue = queues[rng.choice(list(CONFIGS))]
        if rng.random() < 0.05:
            other = queues["qb" if queue.queue_id == "qa" else "qa"]
            ticket_id = rng.choice(list(queue.state.tickets) or ["none"])
            transfer = TransferTicket(ticket_id=ticket_id, to_queue_id=other.queue_id)
            try:
                out, into = decide_transfer(queue.state, other.state, transfer, now)
            except Rejected:
                rejected += 1
            else:
                accepted += 1
                apply(queue, out)
                apply(other, into)
        else:
            command = random_command(rng, queue, step, now)
            expected = next_ticket(queue.state, getattr(command, "service_types", None))
            waiting_before = len(queue.state.waiting)
            before = to_snapshot(queue.state) if step % 97 == 0 else None
            try:
                events = decide(queue.state, command, now)
            except Rejected as refusal:
                rejected += 1
                busy_refused += refusal.code == "counter-busy"
                events = []
            else:
                accepted += 1
                closed_first += isinstance(command, CallNext | CallTicket) and len(events) > 1
                assert events or isinstance(command, PromoteAgedTickets)
                if isinstance(command, EnqueueTicket):
                    # Capacity gates admissions (a returning no-show may still rejoin).
                    capacity = queue.state.config.capacity
                    assert capacity is None or waiting_before < capacity
                if isinstance(command, CallNext):
                    # The call comes last, after whatever freed the counter.
                    assert isinstance(events[-1], TicketCalled) and expected is not None
                    assert events[-1].ticket_id == expected.ticket_id
            if before is not None:
                assert to_snapshot(queue.state) == before  # decide never mutates
            apply(queue, events)
        for q in queues.values():
            check_invariants(q)
        if step % 500 == 0:
            for q in queues.values():
                check_replays(q)
    for q in queues.values():
        check_replays(q)
    # The run exercised both paths and reached past local midnight.
    assert accepted > STEPS // 4 and rejected > STEPS // 10
    # Both busy counter policies met a busy counter many times.
    assert busy_refused > 20 and closed_first > 20, (busy_refused, closed_first)
    assert all(q.state.daily_day is not None for q in queues.values())
    served = sum(t.status == "served" for q in queues.values() for t in q.state.tickets.values())
    assert served > 50
