"""The estimators on hand-made queues: cold start, counters, priorities, replay, cost."""

from __future__ import annotations

from typing import Any

import pytest
from estimation_events import Queue, at, busy_counters
from sortedcontainers import SortedList

from domain.config import QueueConfig
from domain.estimation import LearnedEstimator, RuleEstimator, Selector
from domain.estimation.model import Estimate, Estimator
from domain.estimation.signals import QueueSignals

COUNTERS = ("1", "2", "3")


def config(mean: int = 300, counters: tuple[str, ...] = COUNTERS) -> QueueConfig:
    return QueueConfig(name="Desk", counters=counters, mean_service_seconds=mean)


def estimate(estimator: Estimator, queue: Queue, ticket: str, when: float) -> Estimate:
    found = estimator.estimate(queue.state, ticket, at(when))
    assert found is not None
    return found


@pytest.mark.parametrize("make", [RuleEstimator, LearnedEstimator])
def test_cold_start_uses_the_configured_service_time(make: Any) -> None:
    p50 = {}
    for mean in (120, 600):
        estimator = make()
        queue = Queue(config(mean, counters=("1",)), estimator)
        busy_counters(queue, ["1"], 0)
        for i in range(3):
            queue.enqueue(f"t{i}", 1)
        got = estimate(estimator, queue, "t2", 1)
        assert got.ahead == 2
        assert got.p10 <= got.p50 <= got.p90
        p50[mean] = got.p50
    # Two people ahead plus the one being served, at the configured pace, on one counter.
    assert 1.5 * 120 < p50[120] < 5 * 120
    assert p50[600] > 3 * p50[120]


def test_more_counters_serving_means_a_shorter_wait() -> None:
    p50 = {}
    for serving in (("1",), COUNTERS):
        estimator = RuleEstimator()
        queue = Queue(config(300, counters=serving), estimator)
        busy_counters(queue, serving, 0)
        for i in range(6):
            queue.enqueue(f"t{i}", 10)
        p50[len(serving)] = estimate(estimator, queue, "t5", 10).p50
    assert p50[3] < p50[1] / 2


def test_a_later_higher_priority_ticket_counts_ahead() -> None:
    estimator = RuleEstimator()
    queue = Queue(config(300), estimator)
    busy_counters(queue, COUNTERS, 0)
    for i in range(4):
        queue.enqueue(f"n{i}", 10 + i)
    before = estimate(estimator, queue, "n3", 20)
    queue.enqueue("e", 20, priority="emergency")
    after = estimate(estimator, queue, "n3", 20)
    urgent = estimate(estimator, queue, "e", 20)
    assert (before.ahead, after.ahead, urgent.ahead) == (3, 4, 0)
    assert after.p50 > before.p50
    assert urgent.p50 < before.p50


def test_only_waiting_tickets_get_an_estimate() -> None:
    estimator = RuleEstimator()
    queue = Queue(config(300), estimator)
    busy_counters(queue, ["1"], 0)
    assert estimator.estimate(queue.state, "busy-1") is None
    assert estimator.estimate(queue.state, "nobody") is None


def _run(estimators: list[Estimator]) -> list[tuple[float, float, float]]:
    queue = Queue(config(240), *estimators)
    out = []
    when = 0.0
    for i in range(60):
        queue.enqueue(f"t{i}", when)
        for estimator in estimators:
            got = estimate(estimator, queue, f"t{i}", when)
            out.append((got.p10, got.p50, got.p90))
        if i % 2:
            counter = COUNTERS[i % 3]
            if queue.state.at_counters.get(counter):
                queue.serve(queue.state.at_counters[counter][-1], counter, when + 5)
            queue.call(queue.state.waiting[0][3], counter, when + 10)
        when += 97.0
    return out


def test_a_replay_gives_the_same_numbers() -> None:
    first = _run([RuleEstimator(), LearnedEstimator(), Selector.default()])
    again = _run([RuleEstimator(), LearnedEstimator(), Selector.default()])
    assert first == again


class _CountingLine(SortedList):  # type: ignore[misc]
    """A waiting line that counts how often it is walked."""

    walks = 0

    def __iter__(self) -> Any:
        _CountingLine.walks += 1
        return super().__iter__()

    def islice(self, *args: Any, **kwargs: Any) -> Any:
        _CountingLine.walks += 1
        return super().islice(*args, **kwargs)


def test_observing_and_estimating_never_walk_the_line() -> None:
    selector = Selector.default()
    queue = Queue(config(300), selector)
    queue.state.waiting = _CountingLine(queue.state.waiting)
    busy_counters(queue, COUNTERS, 0)
    for i in range(2000):
        queue.enqueue(f"t{i}", 1 + i)
    _CountingLine.walks = 0
    queue.serve("busy-1", "1", 3000)
    queue.call("t0", "1", 3005)
    queue.enqueue("last", 3010)
    assert selector.estimate(queue.state, "last") is not None
    assert selector.estimate(queue.state, "t1000") is not None
    assert _CountingLine.walks == 0


def test_estimators_sharing_signals_fold_each_event_once() -> None:
    signals = QueueSignals()
    rules, learned = RuleEstimator(signals), LearnedEstimator(signals)
    queue = Queue(config(300), rules, learned)
    queue.enqueue("a", 0)
    queue.call("a", "1", 10)
    queue.serve("a", "1", 310)
    assert signals.served[""].count == 1  # not twice, though two estimators observed it
