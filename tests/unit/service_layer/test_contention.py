"""Contention: a queue another writer appended to is contended for HOLD_S, then it is not."""

from __future__ import annotations

from service_layer.contention import Contention


def test_a_queue_is_contended_for_its_hold_after_another_writer_was_seen() -> None:
    now = [100.0]
    contention = Contention(hold_s=30.0, clock=lambda: now[0])
    assert not contention.any(["q"])
    contention.saw(["q"])
    assert contention.any(["q", "r"]) and not contention.any(["r"])
    now[0] = 129.9
    assert contention.any(["q"])
    now[0] = 130.0
    assert not contention.any(["q"])
