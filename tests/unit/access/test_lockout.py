"""The brute-force schedule, pure: no wait before the back-off bound, then 2, 4, 8... seconds,
never more than a lock-out, and the lock-out from its bound on."""

from __future__ import annotations

from access.lockout import schedule, wait_after
from core.settings import Settings


def test_the_schedule_of_the_default_settings() -> None:
    settings = Settings(env="dev")
    assert (settings.login_backoff_after, settings.login_lockout_after) == (3, 10)
    assert schedule(settings) == [0, 0, 2, 4, 8, 16, 32, 64, 128, 900]


def test_the_back_off_doubles_from_its_bound() -> None:
    waits = [wait_after(n, 5, 100, 3600) for n in range(1, 9)]
    assert waits == [0, 0, 0, 0, 2, 4, 8, 16]


def test_the_back_off_never_exceeds_a_lock_out() -> None:
    assert wait_after(40, 3, 1000, 900) == 900
    assert wait_after(10_000, 3, 100_000, 60) == 60  # no overflow however many failures
    assert all(wait_after(n, 1, 50, 100) <= 100 for n in range(1, 60))


def test_from_the_lock_out_bound_on_every_failure_locks() -> None:
    assert wait_after(10, 3, 10, 900) == 900
    assert wait_after(11, 3, 10, 900) == 900
    assert wait_after(9, 3, 10, 900) == 128


def test_a_lock_out_shorter_than_the_back_off_caps_it() -> None:
    waits = [wait_after(n, 2, 6, 5) for n in range(1, 8)]
    assert waits == [0, 2, 4, 5, 5, 5, 5]
