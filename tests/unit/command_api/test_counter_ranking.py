"""Which of the queues a counter serves it calls from: the longest wait first, or the longest wait
times the queue's weight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from command_api.routes_counters import ranking

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def test_the_longest_wait_first() -> None:
    joined = {"deposits": ago(4), "loans": ago(9), "cards": ago(1)}
    assert ranking(joined, NOW, None) == ["loans", "deposits", "cards"]


def test_a_weight_scales_the_wait_and_unweighted_queues_count_once() -> None:
    joined = {"deposits": ago(4), "loans": ago(9), "cards": ago(1)}
    assert ranking(joined, NOW, {"cards": 10.0}) == ["cards", "loans", "deposits"]
    assert ranking(joined, NOW, {"deposits": 2.5}) == ["deposits", "loans", "cards"]


def test_equal_scores_go_to_who_joined_first_then_the_id() -> None:
    joined = {"b": ago(2), "a": ago(2), "c": ago(4)}
    assert ranking(joined, NOW, {"c": 0.5}) == ["c", "a", "b"]
    assert ranking({}, NOW, None) == []
