"""Cold start and scale: honest from the first ticket, and the same at any pace (issue 17)."""

from __future__ import annotations

import random

import pytest
from estimation_events import Queue, at

from domain.config import QueueConfig
from domain.estimation import LearnedEstimator, RuleEstimator, Selector
from domain.estimation.model import FEW_SERVICES, HISTORY, Estimate, Estimator
from domain.estimation.signals import QueueSignals

COUNTERS = ("1", "2")


def fresh(mean: int = 0) -> QueueConfig:
    """A queue as a new user makes it: by default no expected service time typed in."""
    return QueueConfig(name="Gate", counters=COUNTERS, mean_service_seconds=mean)


def estimate(estimator: Estimator, queue: Queue, ticket: str, when: float) -> Estimate:
    found = estimator.estimate(queue.state, ticket, at(when))
    assert found is not None
    return found


def served_line(estimator: Estimator, scale: float, services: int, seed: int = 3) -> Queue:
    """`services` people served one after the other at two counters, each service log-normal
    around `scale` seconds, the next call a twentieth of that later; then ten wait."""
    rng = random.Random(seed)
    queue = Queue(fresh(), estimator)
    free = {c: 0.0 for c in COUNTERS}
    steps: list[tuple[float, int, str, str]] = []  # (time, order, action, ticket)
    for i in range(services):
        counter = min(free, key=lambda c: free[c])
        when = free[counter]
        call = when + 0.05 * scale
        free[counter] = call + scale * rng.lognormvariate(0.0, 0.4)
        steps += [(when, 0, "enqueue", f"s{i}"), (call, 1, "call", f"s{i}")]
        steps += [(call, 2, "start", f"s{i}"), (free[counter], 3, "serve", f"s{i}")]
        steps[-3:] = [(t, o, a, f"{ticket}@{counter}") for t, o, a, ticket in steps[-3:]]
    for when, _, action, name in sorted(steps):
        ticket, _, counter = name.partition("@")
        if action == "enqueue":
            queue.enqueue(ticket, when)
        elif action == "call":
            queue.call(ticket, counter, when)
        elif action == "start":
            queue.start(ticket, counter, when)
        else:
            queue.serve(ticket, counter, when)
    # Both counters busy with one more each, and ten people waiting.
    last = max(free.values())
    for counter in COUNTERS:
        queue.enqueue(f"b{counter}", last)
        queue.call(f"b{counter}", counter, last)
        queue.start(f"b{counter}", counter, last)
    for i in range(10):
        queue.enqueue(f"w{i}", last)
    return queue


@pytest.mark.parametrize("make", [RuleEstimator, LearnedEstimator, Selector.default])
def test_a_queue_with_no_history_answers_a_wide_range_marked_as_such(make: object) -> None:
    estimator: Estimator = make()  # type: ignore[operator]
    queue = Queue(fresh(), estimator)
    for i in range(6):
        queue.enqueue(f"t{i}", i)
    got = estimate(estimator, queue, "t5", 6)
    assert got.ahead == 5
    assert got.p50 > 0  # never "0 s" for the sixth of a line nobody has served yet
    assert got.p10 <= got.p50 <= got.p90
    assert got.p90 >= 4 * max(got.p10, 1e-9)  # no range that pretends to know
    assert got.basis == FEW_SERVICES
    assert got.as_dict()["basis"] == FEW_SERVICES


def test_the_first_services_override_the_guess_and_the_basis_says_so() -> None:
    rules = RuleEstimator()
    queue = served_line(rules, 4.0, services=40)
    got = estimate(rules, queue, "w9", queue.events[-1].at.timestamp() - at(0).timestamp())
    # Ten ahead plus the two being served, two counters, ~4.3 s a call: about 25 s, not the
    # minutes a guess of two minutes a service would say.
    assert 12 < got.p50 < 45, got
    assert got.basis == HISTORY


def test_the_same_line_at_any_pace_gets_the_same_relative_range() -> None:
    """Every duration x 60 (4 s services become 4 min): the range scales by 60 too."""
    ranges = []
    for scale in (4.0, 240.0):
        rules = RuleEstimator()
        queue = served_line(rules, scale, services=60)
        now = (queue.events[-1].at - at(0)).total_seconds()
        got = estimate(rules, queue, "w9", now)
        ranges.append((got.p10 / scale, got.p50 / scale, got.p90 / scale))
    fast, slow = ranges
    for a, b in zip(fast, slow, strict=True):
        assert a == pytest.approx(b, rel=0.1), ranges


def test_the_idle_gap_and_the_break_grace_follow_the_pace() -> None:
    fast, slow = RuleEstimator(), RuleEstimator()
    served_line(fast, 4.0, services=60)
    served_line(slow, 240.0, services=60)
    a, b = fast.signals, slow.signals
    assert a.grace() * 60 == pytest.approx(b.grace(), rel=0.15)
    assert a.board.grace < 30  # a gate idle for half a minute while people wait is away


def test_a_configured_service_time_is_the_prior() -> None:
    signals = QueueSignals()
    queue = Queue(fresh(mean=600))
    signals.observe(queue.state, queue.events[0])
    assert signals.all_types.mean() == pytest.approx(600, rel=0.15)
    neutral = QueueSignals()
    neutral.observe(Queue(fresh()).state, queue.events[0])
    assert neutral.thin() and signals.thin()


@pytest.mark.parametrize("priority", ["normal", "vip"])
def test_the_newcomer_stands_at_the_back_of_the_requested_class(priority: str) -> None:
    selector = Selector.default()
    queue = served_line(selector, 60.0, services=30)
    queue.enqueue("v1", (queue.events[-1].at - at(0)).total_seconds(), priority="vip")
    got = selector.newcomer(queue.state, priority)
    assert got is not None
    waiting = queue.state.waiting_count
    if priority == "vip":
        assert got.ahead == 1  # only the other vip is ahead
    else:
        assert got.ahead == waiting  # the whole line
        last = selector.estimate(queue.state, "w9")
        assert last is not None
        assert got.p50 >= last.p50  # behind the last one in line
    assert got.p50 > 0
