"""The estimators against random traffic: back-to-back events (no time between them), long
silences, every command, reconfigurations. Whatever happens, every waiting ticket gets a sane
range: finite, ordered P10 <= P50 <= P90, with the people ahead that its position says."""

from __future__ import annotations

import math
import random
from datetime import timedelta

from domain.commands import CreateQueue
from domain.config import QueueConfig
from domain.decide import decide
from domain.errors import Rejected
from domain.estimation import Selector
from domain.events import QueueEvent
from domain.evolve import evolve
from domain.state import initial_state, position
from tests.unit.domain.test_domain_properties import CONFIGS, START, Queue, random_command

STEPS = 2000


def _pause(rng: random.Random) -> timedelta:
    roll = rng.random()
    if roll < 0.4:
        return timedelta(0)  # back to back: the same instant
    if roll < 0.97:
        return timedelta(seconds=rng.randint(1, 120))
    return timedelta(hours=rng.randint(1, 60))  # a night, a weekend


def _traffic(seed: int, queue_id: str, config: QueueConfig) -> list[QueueEvent]:
    """STEPS random commands on one queue (most refused or not), as the events they made."""
    rng = random.Random(seed)
    now = START
    queue = Queue(queue_id, initial_state(queue_id))
    commands = [CreateQueue(queue_id=queue_id, tenant_id="t", config=config)]
    for step in range(STEPS):
        command = commands.pop() if commands else random_command(rng, queue, step, now)
        try:
            produced = decide(queue.state, command, now)
        except Rejected:
            produced = []
        for event in produced:
            evolve(queue.state, event)
        queue.events.extend(produced)
        now += _pause(rng)
    return queue.events


def test_every_waiting_ticket_gets_a_sane_range_whatever_the_traffic() -> None:
    for queue_id, config in CONFIGS.items():
        state, selector = initial_state(queue_id), Selector.default()
        estimated = 0
        for event in _traffic(7, queue_id, config):
            evolve(state, event)
            selector.observe(state, event)
            waiting = [key[3] for key in state.waiting]
            for ticket_id in {*waiting[:2], *waiting[-1:]}:
                estimate = selector.estimate(state, ticket_id)
                assert estimate is not None
                values = (estimate.p10, estimate.p50, estimate.p90)
                assert all(math.isfinite(v) and v >= 0 for v in values), values
                assert estimate.p10 <= estimate.p50 <= estimate.p90, values
                assert estimate.ahead == (position(state, ticket_id) or 0) - 1
                estimated += 1
        assert estimated > STEPS  # the line was not empty all along
        figures = {f.estimator: f for f in selector.accuracy()}
        assert figures["served"].called > 0


def test_asking_for_estimates_between_events_changes_nothing_later() -> None:
    """A stream worker asks for ranges between events (refreshing tickets' ranges); a rebuild
    does not. The ranges given at enqueue, and so the accuracy figures, must come out the same."""
    queue_id, config = next(iter(CONFIGS.items()))
    events = _traffic(11, queue_id, config)

    def fold(curious: bool) -> list[object]:
        state, selector = initial_state(queue_id), Selector.default()
        asking = random.Random(5)
        for event in events:
            evolve(state, event)
            selector.observe(state, event)
            if curious and state.waiting and asking.random() < 0.5:
                selector.estimate(state, asking.choice(list(state.waiting))[3])
        return [f.as_dict() for f in selector.accuracy()]

    assert fold(curious=True) == fold(curious=False)
