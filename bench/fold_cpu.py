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

from bench.fill import Writer, create, step
from bench.mix import QueueModel
from domain.commands import EnqueueTicket
from domain.events import QueueEvent
from projections.model import QueueModel as FoldedQueue


def _queue(seed: int) -> tuple[Writer, random.Random]:
    rng = random.Random(seed)
    writer = Writer(None, "t", str(uuid.UUID(int=rng.getrandbits(128))))
    create(writer)
    return writer, rng


def busy_queue(events: int, seed: int) -> tuple[str, list[QueueEvent]]:
    writer, rng = _queue(seed)
    model = QueueModel(writer.state.queue_id)
    ids = random.Random(seed + 1000)  # ticket ids of their own, so a run is the same every time
    while len(writer.pending) < events:
        step(writer, model, rng, lambda: str(uuid.UUID(int=ids.getrandbits(128))))
    return writer.state.queue_id, writer.pending


def long_line(size: int, seed: int) -> tuple[str, list[QueueEvent]]:
    writer, rng = _queue(seed)
    for _ in range(size):
        ticket_id = str(uuid.UUID(int=rng.getrandbits(128)))
        writer.apply(EnqueueTicket(ticket_id=ticket_id, channel="kiosk"))
    return writer.state.queue_id, writer.pending


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
