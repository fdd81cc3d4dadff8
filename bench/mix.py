"""The command mix: what a busy site does to its queues, as a small state machine per queue.

Per ticket: it joins (enqueue), ~10 % give up while waiting (cancel), the rest are called
(call-next); of those called ~10 % do not come (no-show), the others are served (start, then
complete). That makes the long-run mix about 27 % enqueue, 24 % call-next, 22 % start, 22 %
complete, 3 % no-show, 3 % cancel. The generator only acts on what answers told it (a ticket it
saw called can be started), so an open-loop burst never sends an order that cannot make sense;
when nothing else is possible somebody joins.
"""

from __future__ import annotations

import random
from collections import deque
from contextlib import suppress
from dataclasses import dataclass, field

# op -> weight; the op is tried in this proportion and falls back to enqueue when impossible.
WEIGHTS: dict[str, int] = {
    "enqueue": 27,
    "call-next": 24,
    "start": 22,
    "complete": 22,
    "no-show": 3,
    "cancel": 3,
}
OPS = tuple(WEIGHTS)
# Above this many known waiting, joining slows down, so lines stay a realistic size.
LONG_LINE = 40
# Enough counters that calls are rarely held back by a busy one (a counter calls again only
# once its person is served or a no-show: the queues' busy-counter policy refuses otherwise).
COUNTERS = tuple(str(n) for n in range(1, 21))


@dataclass
class QueueModel:
    queue_id: str
    waiting: deque[str] = field(default_factory=deque)
    called: list[str] = field(default_factory=list)
    serving: list[str] = field(default_factory=list)
    calls_in_flight: int = 0
    free: list[str] = field(default_factory=lambda: list(COUNTERS))
    counter_of: dict[str, str] = field(default_factory=dict)  # ticket -> the counter it is at


@dataclass(frozen=True, slots=True)
class Order:
    op: str
    queue: int  # index into the generator's queue list
    ticket_id: str | None = None
    counter: str | None = None


def choose(model: QueueModel, index: int, rng: random.Random) -> Order:
    """The next order for this queue; reserves the ticket it acts on (no double orders)."""
    weights = dict(WEIGHTS)
    if len(model.waiting) > LONG_LINE:
        weights["enqueue"] = 2
    op = rng.choices(OPS, weights=list(weights.values()))[0]
    if op == "call-next" and len(model.waiting) - model.calls_in_flight > 0 and model.free:
        model.calls_in_flight += 1
        counter = model.free.pop(rng.randrange(len(model.free)))
        return Order("call-next", index, counter=counter)
    if op in ("start", "no-show") and model.called:
        return Order(op, index, ticket_id=model.called.pop(rng.randrange(len(model.called))))
    if op == "complete" and model.serving:
        return Order(op, index, ticket_id=model.serving.pop(rng.randrange(len(model.serving))))
    if op == "cancel" and len(model.waiting) - model.calls_in_flight > 1:
        return Order(op, index, ticket_id=model.waiting.pop())  # the newest: never the one called
    return Order("enqueue", index)


def answered(model: QueueModel, order: Order, ok: bool, ticket_id: str | None) -> None:
    """Fold a command's answer into what the generator knows about the queue."""
    if order.op == "call-next":
        model.calls_in_flight -= 1
        if ok and ticket_id is not None and order.counter is not None:
            # A ticket from before this generator started is not known: it learns it here.
            with suppress(ValueError):
                model.waiting.remove(ticket_id)
            model.called.append(ticket_id)
            model.counter_of[ticket_id] = order.counter
        elif order.counter is not None:
            model.free.append(order.counter)
        return
    if order.op in ("complete", "no-show") and order.ticket_id in model.counter_of:
        # The visit is over (or, refused, is no longer the generator's to finish): the
        # counter calls again.
        model.free.append(model.counter_of.pop(order.ticket_id))
    if not ok:
        return
    if order.op == "enqueue" and ticket_id is not None:
        model.waiting.append(ticket_id)
    elif order.op == "start" and order.ticket_id is not None:
        model.serving.append(order.ticket_id)
