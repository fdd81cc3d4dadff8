"""A Kafka client's start (`core.kafka_start.started`, a notifier stage's consumer, the stream
worker's first producer): it waits for a Kafka that refuses it (a fresh client each try, each
failed one closed), a stop ends the wait even inside a start that hangs, a caller cancelled
while starting leaves nothing open, and an error that is not Kafka's is not retried. The clients
are stand-ins (this is about the race, not aiokafka)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from core import kafka_start
from core.kafka_start import started


class Consumer:
    """A consumer whose start does what the test says: raise, hang, or start."""

    def __init__(self, start: Any) -> None:
        self._start = start
        self.stopped = False

    async def start(self) -> None:
        if isinstance(self._start, BaseException):
            raise self._start
        if self._start == "hang":
            await asyncio.sleep(3600)

    async def stop(self) -> None:
        self.stopped = True


class Maker:
    def __init__(self, *starts: Any) -> None:
        self._starts = list(starts)
        self.made: list[Consumer] = []

    def __call__(self) -> Any:
        made = Consumer(self._starts.pop(0) if len(self._starts) > 1 else self._starts[0])
        self.made.append(made)
        return made


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka_start, "FIRST_BACKOFF_S", 0.01)


async def test_a_kafka_that_refuses_is_waited_for_and_each_failed_consumer_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="vq.kafka")
    refused = KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 1)]")
    make = Maker(refused, refused, "start")
    kafka = await started(make, asyncio.Event(), "stage")
    assert kafka is make.made[2] and not make.made[2].stopped
    assert [c.stopped for c in make.made[:2]] == [True, True]
    said = [r.getMessage() for r in caplog.records]
    assert sum("waiting for it" in m for m in said) == 1  # once per outage, not once per try
    assert any("Kafka answers again" in m for m in said)


async def test_a_stop_ends_a_start_that_hangs_and_closes_its_consumer() -> None:
    make, stop = Maker("hang"), asyncio.Event()
    waiting = asyncio.ensure_future(started(make, stop, "stage"))
    await asyncio.sleep(0.05)
    stop.set()
    assert await asyncio.wait_for(waiting, 1) is None
    assert make.made[0].stopped


async def test_a_stop_while_waiting_between_tries_ends_it() -> None:
    stop = asyncio.Event()
    make = Maker(KafkaConnectionError("refused"))
    waiting = asyncio.ensure_future(started(make, stop, "stage"))
    await asyncio.sleep(0.1)
    stop.set()
    assert await asyncio.wait_for(waiting, 1) is None
    assert all(c.stopped for c in make.made)


async def test_a_stage_cancelled_while_starting_leaves_nothing_open() -> None:
    make = Maker("hang")
    waiting = asyncio.ensure_future(started(make, asyncio.Event(), "stage"))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert make.made[0].stopped


async def test_an_error_that_is_not_kafkas_is_raised_not_retried() -> None:
    make = Maker(ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        await started(make, asyncio.Event(), "stage")
    assert len(make.made) == 1 and make.made[0].stopped
