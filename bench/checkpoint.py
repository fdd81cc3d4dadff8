"""What a checkpoint saves a stream worker: folding a queue's history vs restoring its fold.

`python -m bench.checkpoint [SCENARIO] [DAYS]` (default: public_office, 15 days) folds the
simulated days through the domain and the read side's estimators (as a worker meeting the queue
would), then pickles the fold as the worker checkpoints it and restores it. No servers: the
fold and the restore are the CPU a worker spends; the store adds a read of the row.
"""

from __future__ import annotations

import asyncio
import sys
import time

from domain.evolve import evolve
from domain.state import initial_state
from projections import checkpoint
from projections.estimates import QueueEstimates
from projections.model import QueueModel
from simulation.offline import decide_locally
from simulation.scenario import load
from simulation.world import commands


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "public_office"
    days = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    events = asyncio.run(decide_locally(commands(load(name), days=days, seed=1)))
    started = time.perf_counter()
    model = QueueModel(initial_state(""), QueueEstimates())
    for event in events:
        evolve(model.state, event)
        model.estimates.observe(model.state, event)
    folded = time.perf_counter() - started
    started = time.perf_counter()
    data = checkpoint.dump(model)
    dumped = time.perf_counter() - started
    started = time.perf_counter()
    checkpoint.restore(data)
    restored = time.perf_counter() - started
    print(f"{name}, {days} days: {len(events):,} events")
    print(f"  fold from the first event   {folded:8.2f} s  ({len(events) / folded:,.0f} events/s)")
    print(f"  checkpoint (pickle + zlib)  {dumped * 1000:8.1f} ms, {len(data) / 1024:,.0f} KiB")
    print(f"  restore                     {restored * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
