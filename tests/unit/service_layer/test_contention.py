"""Contention: a queue whose append failed behind another writer's is contended for the hold,
hot while its appends keep failing after catching up, and neither once the hold has passed."""

from __future__ import annotations

from service_layer.contention import CONTENDED, HOT, Contention


def test_a_queue_is_contended_for_its_hold_after_another_writer_was_seen() -> None:
    now = [100.0]
    contention = Contention(hold_s=30.0, clock=lambda: now[0])
    assert contention.level(["q"]) == 0
    contention.saw(["q"])
    assert contention.level(["q", "r"]) == CONTENDED and contention.level(["r"]) == 0
    now[0] = 129.9
    assert contention.level(["q"]) == CONTENDED
    now[0] = 130.0
    assert contention.level(["q"]) == 0


def test_appends_that_keep_failing_make_a_queue_hot_and_successes_cool_it() -> None:
    now = [0.0]
    contention = Contention(hold_s=30.0, clock=lambda: now[0])
    contention.saw(["q"])
    contention.fine(["q"])  # caught up, the append went through
    contention.saw(["q"])  # one failure now and then: still only contended
    assert contention.level(["q"]) == CONTENDED
    contention.saw(["q"])  # failed again right after catching up: decided under the lock now
    assert contention.level(["q"]) == HOT
    for _ in range(3):
        contention.fine(["q"])
    assert contention.level(["q"]) == CONTENDED
    contention.saw(["q"])
    contention.saw(["q"])
    now[0] = 31.0  # the hold passed since the last failure: the one-statement path again
    assert contention.level(["q"]) == 0
    contention.saw(["q"])  # and a failure after that starts from nothing
    assert contention.level(["q"]) == CONTENDED
