"""Leases of a busy caller's rate limit (http_api/rate_leases.py), on a hand-moved clock."""

from __future__ import annotations

from http_api.rate_leases import LEASE_LIFE_S, LEASE_S, Leases


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_caller_at_a_request_now_and_then_is_charged_one_at_a_time() -> None:
    clock = Clock()
    leases = Leases(clock)
    for _ in range(5):
        clock.now += 2.0
        assert leases.spend("key:a", 1000, clock.now) is None
        assert leases.size("key:a", 1000) == 1


def test_a_busy_caller_gets_a_seconds_worth_capped_at_a_twentieth_of_its_limit() -> None:
    clock = Clock()
    leases = Leases(clock)
    for _ in range(30):  # 30 requests in this second
        leases.spend("key:a", 1000, clock.now)
    assert leases.size("key:a", 1000) == 30
    assert leases.size("key:a", 200) == 10  # 200 // 20
    assert leases.size("key:a", 19) == 1  # a small limit: always one by one
    clock.now += 1.0  # the next second: the last one's pace still counts
    leases.spend("key:a", 1000, clock.now)
    assert leases.size("key:a", 1000) == 30
    clock.now += 5.0  # idle: back to one
    leases.spend("key:a", 1000, clock.now)
    assert leases.size("key:a", 1000) == 1


def test_a_lease_is_spent_counting_down_then_gone() -> None:
    clock = Clock()
    leases = Leases(clock)
    leases.hold("key:a", 1000, 3, 500, 42.0, clock.now)  # 4 charged: 1 used, 3 to spend
    spent = [leases.spend("key:a", 1000, clock.now) for _ in range(4)]
    assert [s.remaining if s else None for s in spent] == [502, 501, 500, None]
    leases.hold("key:a", 1000, 2, 490, 40.0, clock.now)
    clock.now += 0.25
    first = leases.spend("key:a", 1000, clock.now)
    assert first is not None and first.reset_s == 39.75
    assert leases.spend("key:b", 1000, clock.now) is None  # callers are apart
    assert leases.spend("key:a", 999, clock.now) is None  # a changed limit: not this lease


def test_two_leases_taken_at_once_lose_nothing() -> None:
    clock = Clock()
    leases = Leases(clock)
    leases.hold("key:a", 1000, 4, 600, 30.0, clock.now)
    leases.hold("key:a", 1000, 4, 595, 30.0, clock.now)
    spent = [leases.spend("key:a", 1000, clock.now) for _ in range(9)]
    assert [s.remaining if s else None for s in spent] == [
        602,
        601,
        600,
        599,
        598,
        597,
        596,
        595,
        None,
    ]


def test_a_caller_with_no_room_for_a_lease_is_charged_one_by_one_for_a_while() -> None:
    clock = Clock()
    leases = Leases(clock)
    for _ in range(30):
        leases.spend("key:a", 1000, clock.now)
    leases.near_limit("key:a")
    assert leases.size("key:a", 1000) == 1
    clock.now += LEASE_S
    leases.spend("key:a", 1000, clock.now)
    assert leases.size("key:a", 1000) == 30


def test_a_caller_slower_than_its_lease_spends_it_whole_pauses_included() -> None:
    """A busy machine slows a caller down: its lease lasts through pauses (it was dropped a
    second after it was charged, then after a second without a request, and the caller was
    refused short of its limit: 954 then 965 of 1,000 in CI)."""
    clock = Clock()
    leases = Leases(clock)
    leases.hold("key:a", 1000, 10, 500, 60.0, clock.now)
    spent = []
    for _ in range(10):
        clock.now += 0.5
        spent.append(leases.spend("key:a", 1000, clock.now))
    assert [s.remaining if s else None for s in spent] == list(range(509, 499, -1))
    leases.hold("key:a", 1000, 5, 490, 60.0, clock.now)
    clock.now += 10 * LEASE_S  # quiet for ten seconds: what was paid for is still there
    spent = [leases.spend("key:a", 1000, clock.now) for _ in range(6)]
    assert [s.remaining if s else None for s in spent] == [494, 493, 492, 491, 490, None]
    leases.hold("key:a", 1000, 100, 400, 60.0, clock.now)
    for _ in range(int(LEASE_LIFE_S / 0.5) - 1):
        clock.now += 0.5
        assert leases.spend("key:a", 1000, clock.now) is not None
    clock.now += 0.5  # and never spent past its life, however steady the caller
    assert leases.spend("key:a", 1000, clock.now) is None
