"""A new queue's first day: slots nobody has seen yet are forecast from today, not as empty."""

from __future__ import annotations

import pytest
from estimation_events import T0, Queue, at

from domain.config import QueueConfig
from domain.estimation import RuleEstimator
from domain.estimation.profiles import SLOT_SECONDS, SlotRecorder, slot_of

CLASSES = ("vip", "normal")


def _slot(seconds: float) -> tuple[int, int]:
    weekday, slot, _ = slot_of("UTC", at(seconds))
    return weekday, slot


def test_an_unseen_slot_gets_todays_rate_times_the_class_share() -> None:
    recorder = SlotRecorder("UTC")
    recorder.advance(T0)
    for _ in range(9):
        recorder.arrival("normal")
    recorder.arrival("vip")
    recorder.advance(at(SLOT_SECONDS + 1))  # the first slot closes: 10 arrivals, one a vip
    later = _slot(3 * SLOT_SECONDS)
    assert recorder.rate("vip", later) == pytest.approx(1 / SLOT_SECONDS, rel=0.01)
    assert recorder.rate("normal", later) == pytest.approx(9 / SLOT_SECONDS, rel=0.01)
    # The slot that was seen keeps its own count (its profile), whatever came since.
    for _ in range(5):
        recorder.arrival("vip")
    assert recorder.rate("vip", _slot(0)) == pytest.approx(1 / SLOT_SECONDS)
    # The slot under way counts too: five vips of the last six arrivals raise the vip forecast.
    recorder.arrival("normal")
    recorder.advance(at(SLOT_SECONDS + 300))
    assert recorder.rate("vip", later) > 1 / SLOT_SECONDS


def test_the_first_arrivals_of_a_day_do_not_read_as_a_rush() -> None:
    recorder = SlotRecorder("UTC")
    recorder.advance(T0)
    recorder.arrival("vip")
    recorder.advance(at(5))  # one vip five seconds in: not 720 an hour
    assert recorder.rate("vip", _slot(2 * SLOT_SECONDS)) == pytest.approx(3 / SLOT_SECONDS)
    assert recorder.rate("normal", _slot(2 * SLOT_SECONDS)) == 0.0
    assert SlotRecorder("UTC").rate("vip", _slot(0)) == 0.0  # nothing seen at all


def test_a_first_day_estimate_counts_the_higher_classes_still_to_come() -> None:
    """On its first morning a queue has seen vips arrive at one in ten: a normal ticket at the
    back of a long line will be passed by some, and its range says so."""

    def line(vips: bool) -> float:
        rules = RuleEstimator()
        queue = Queue(QueueConfig(name="Desk", counters=("1",), priority_classes=CLASSES), rules)
        when = 0.0
        for i in range(40):  # a served line: one every 60 s, at one counter
            priority = "vip" if vips and i % 10 == 0 else "normal"
            queue.enqueue(f"s{i}", when, priority)
            queue.call(f"s{i}", "1", when + 1)
            queue.start(f"s{i}", "1", when + 1)
            queue.serve(f"s{i}", "1", when + 60)
            when += 60
        queue.enqueue("busy", when)
        queue.call("busy", "1", when)
        for i in range(30):
            queue.enqueue(f"w{i}", when + i * 0.1)
        found = rules.estimate(queue.state, "w29", at(when + 3))
        assert found is not None
        return found.p50

    plain, with_vips = line(False), line(True)
    # Thirty ahead at a minute each: about half an hour, plus a vip every ten minutes or so.
    assert 1500 < plain < 2300, plain
    assert with_vips > plain * 1.05, (plain, with_vips)
