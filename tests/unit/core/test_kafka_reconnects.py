"""A broker address's reconnect backoff, on a clock of the test's own."""

from __future__ import annotations

import inspect

import aiokafka.client
import pytest

from core.kafka_reconnects import CEILING_S, FIRST_S, JITTER, Backoff


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _failing(backoff: Backoff, clock: _Clock, times: int) -> list[float]:
    """The waits after `times` failed tries, each made as soon as it was allowed."""
    waits = []
    for _ in range(times):
        clock.now += backoff.wait_s + 1e-9
        assert backoff.take()
        backoff.failed()
        waits.append(backoff.wait_s)
    return waits


def test_the_wait_doubles_while_the_broker_fails_up_to_the_ceiling() -> None:
    clock = _Clock()
    backoff = Backoff(clock, jitter=lambda: 0.5)  # no stretch
    waits = _failing(backoff, clock, 8)
    assert waits[:4] == pytest.approx([FIRST_S, FIRST_S * 2, FIRST_S * 4, FIRST_S * 8])
    assert waits[-2:] == pytest.approx([CEILING_S, CEILING_S])


def test_the_wait_is_jittered_within_its_share() -> None:
    clock = _Clock()
    low, high = Backoff(clock, jitter=lambda: 0.0), Backoff(clock, jitter=lambda: 0.999999)
    assert _failing(low, clock, 6)[-1] == pytest.approx(CEILING_S * (1 - JITTER))
    assert _failing(high, clock, 6)[-1] <= CEILING_S * (1 + JITTER)


def test_after_a_failure_one_client_at_a_time_tries_once_the_wait_has_passed() -> None:
    clock = _Clock()
    backoff = Backoff(clock, jitter=lambda: 0.5)
    assert backoff.take() and backoff.take()  # while it works: every client, together
    backoff.failed()
    assert not backoff.take()
    clock.now += FIRST_S + 1e-9
    assert backoff.take()
    assert not backoff.take()  # another client, before the first one's outcome
    backoff.failed()
    assert backoff.wait_s == pytest.approx(FIRST_S * 2)


def test_a_connection_that_works_lets_every_client_in_at_once() -> None:
    clock = _Clock()
    backoff = Backoff(clock, jitter=lambda: 0.5)
    _failing(backoff, clock, 6)
    clock.now += backoff.wait_s + 1e-9
    assert backoff.take()
    backoff.worked()
    assert backoff.take() and backoff.take()  # the others: no wait
    backoff.failed()
    assert backoff.wait_s == pytest.approx(FIRST_S)  # a new outage starts from the first wait


def test_aiokafka_still_makes_every_connection_through_the_factory_we_pace() -> None:
    """pace_reconnects swaps `aiokafka.client.create_conn`: an aiokafka that made connections
    elsewhere would knock every 100 ms again, unseen."""
    source = inspect.getsource(aiokafka.client.AIOKafkaClient)
    assert source.count("await create_conn(") == 2  # bootstrap, and a broker's connection
    assert "conn.create_conn" not in source
