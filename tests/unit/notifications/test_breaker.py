"""The per-endpoint rate limit and circuit breaker, on an injected clock."""

from __future__ import annotations

from notifications.breaker import Breakers, Bucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_lets_a_burst_through_then_paces_at_its_rate() -> None:
    bucket = Bucket(rate=10.0, burst=10.0, stamp=0.0)
    waits = [bucket.wait_s(0.0) for _ in range(12)]
    assert waits[:10] == [0.0] * 10
    assert waits[10] == 0.1 and abs(waits[11] - 0.2) < 1e-9
    # A second later the bucket has refilled (less what the two over the burst borrowed).
    assert bucket.wait_s(1.0) == 0.0


def test_the_breaker_opens_after_the_threshold_and_lets_one_try_per_cooldown() -> None:
    clock = Clock()
    breakers = Breakers(threshold=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        breakers.failed("e")
    assert breakers.allows("e") and not breakers.is_open("e")
    breakers.failed("e")
    assert breakers.is_open("e") and not breakers.allows("e")
    clock.now = 9.9
    assert not breakers.allows("e")
    clock.now = 10.0
    assert breakers.allows("e")  # half-open: one try
    assert not breakers.allows("e")  # and not a second in the same cooldown
    breakers.succeeded("e")
    assert breakers.allows("e") and not breakers.is_open("e")


def test_breakers_are_per_endpoint() -> None:
    breakers = Breakers(threshold=1, cooldown_s=10, clock=Clock())
    breakers.failed("a")
    assert not breakers.allows("a") and breakers.allows("b")
