"""The read side's CPU per event, in one process, without servers: `python -m bench.fold_cpu`.

Events come from the real `decide`/`evolve` driven by the benchmark's command mix (bench/mix.py,
20 counters) on a simulated clock, as `make bench` fills its store, plus one line of 1,000 people
joining. They are folded twice, as the read side folds them:

* `rebuild`: every event applied (the estimators project each joining ticket's wait), then every
  waiting ticket's range filled, as `vq projections rebuild` does;
* `worker`: each event applied as a batch of its own, with what the stream processor computes
  after a batch (the ranges owed, the queue summary's estimate, the accuracy figures): the worst
  case, commands spread thin over many queues.

CPU seconds of this process (not wall time: other work on the machine does not count). For
before/after comparisons of the estimators and the projector; `make bench` measures the whole
pipeline.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.mix import COUNTERS, Order, QueueModel, answered, choose
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
from domain.state import QueueState, initial_state
from projections.model import QueueModel as FoldedQueue

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


class _Queue:
    def __init__(self, rng: random.Random) -> None:
        self.state: QueueState = initial_state(str(uuid.UUID(int=rng.getrandbits(128))))
        self.now = START
        self.events: list[QueueEvent] = []
        config = QueueConfig(name="Bench", prefix="B", counters=COUNTERS)
        self.apply(CreateQueue(queue_id=self.state.queue_id, tenant_id="t", config=config))

    def apply(self, command: QueueCommand) -> list[QueueEvent]:
        self.now += timedelta(milliseconds=200)
        made = decide(self.state, command, self.now)
        for event in made:
            evolve(self.state, event)
        self.events.extend(made)
        return made


def _command(model: QueueModel, rng: random.Random) -> tuple[Order, QueueCommand]:
    order = choose(model, 0, rng)
    ticket = order.ticket_id or ""
    commands: dict[str, QueueCommand] = {
        "enqueue": EnqueueTicket(
            ticket_id=str(uuid.UUID(int=rng.getrandbits(128))), channel="kiosk"
        ),
        "call-next": CallNext(counter=order.counter or COUNTERS[0]),
        "cancel": CancelTicket(ticket_id=ticket, by="staff"),
        "start": StartService(ticket_id=ticket),
        "complete": CompleteService(ticket_id=ticket),
    }
    return order, commands.get(order.op) or MarkNoShow(ticket_id=ticket)


def busy_queue(events: int, seed: int) -> tuple[str, list[QueueEvent]]:
    rng = random.Random(seed)
    queue = _Queue(rng)
    model = QueueModel(queue.state.queue_id)
    while len(queue.events) < events:
        order, command = _command(model, rng)
        try:
            made = queue.apply(command)
        except Rejected:
            made = []
        ticket = getattr(command, "ticket_id", None) if order.op == "enqueue" else None
        if made and isinstance(made[0], TicketCalled):
            ticket = made[0].ticket_id
        answered(model, order, bool(made), ticket)
    return queue.state.queue_id, queue.events


def long_line(size: int, seed: int) -> tuple[str, list[QueueEvent]]:
    rng = random.Random(seed)
    queue = _Queue(rng)
    for _ in range(size):
        queue.apply(
            EnqueueTicket(ticket_id=str(uuid.UUID(int=rng.getrandbits(128))), channel="kiosk")
        )
    return queue.state.queue_id, queue.events


def rebuild(queues: list[tuple[str, list[QueueEvent]]]) -> float:
    started = time.process_time()
    for queue_id, events in queues:
        folded = FoldedQueue.new(queue_id)
        for event in events:
            folded.apply(event)
        folded.estimates.fill(folded.state)
    return time.process_time() - started


def worker(queues: list[tuple[str, list[QueueEvent]]]) -> float:
    started = time.process_time()
    for queue_id, events in queues:
        folded = FoldedQueue.new(queue_id)
        for event in events:
            folded.apply(event)
            estimates, state = folded.estimates, folded.state
            estimates.refresh(state)
            estimates.newcomer(state)
            estimates.accuracy(state)
    return time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=5, help="busy queues (default 5)")
    parser.add_argument("--events", type=int, default=4000, help="events per busy queue")
    args = parser.parse_args()
    queues = [busy_queue(args.events, seed) for seed in range(args.queues)]
    queues.append(long_line(1000, 99))
    total = sum(len(events) for _, events in queues)
    for name, fold in (("rebuild", rebuild), ("worker", worker)):
        seconds = fold(queues)
        print(
            f"{name:8} {total:,} events in {seconds:.2f} s of CPU: "
            f"{total / seconds:,.0f} events/s, {1000 * seconds / total:.3f} ms an event"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
