"""A new queue's first minutes: desks that have not called anybody yet are there (as on a cold
start), until people wait with nobody calling them."""

from __future__ import annotations

from estimation_events import Queue, at

from domain.config import QueueConfig
from domain.estimation import RuleEstimator
from domain.estimation.counters import IDLE_GRACE


def _first_minutes() -> tuple[RuleEstimator, Queue]:
    """Three desks open at nine; the day's first person is at desk 2, their service under way."""
    rules = RuleEstimator()
    queue = Queue(QueueConfig(name="Desk", counters=("1", "2", "3")), rules)
    queue.enqueue("first", 0)
    queue.call("first", "2", 7)
    queue.start("first", "2", 30)
    return rules, queue


def test_a_newcomer_on_the_first_morning_is_called_by_a_desk_not_yet_seen() -> None:
    """The second person of a new queue's day, desk 2 busy, desks 1 and 3 never seen: one of
    them calls (the world of cold_start, seed 6, 08:09: called in 9 s, told 153 s before)."""
    rules, queue = _first_minutes()
    queue.enqueue("second", 80)
    found = rules.estimate(queue.state, "second", at(80))
    assert found is not None
    assert found.p50 < 60, found  # a call under way, not the rest of desk 2's service


def test_desks_not_seen_while_people_wait_uncalled_are_not_counted() -> None:
    """The same desks, once people have waited longer than an idle grace with nobody calling
    them: they are not there, and the wait is desk 2's."""
    rules, queue = _first_minutes()
    for i in range(3):
        queue.enqueue(f"w{i}", 80 + i)
    later = 80 + 2 * IDLE_GRACE
    quick = rules.estimate(queue.state, "w2", at(82))
    waited = rules.estimate(queue.state, "w2", at(later))
    assert quick is not None and waited is not None
    assert waited.p50 > 2 * quick.p50, (quick, waited)
