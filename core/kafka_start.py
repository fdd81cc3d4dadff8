"""Starting a Kafka client while Kafka may be away: wait for it, and let a stop end the wait.

aiokafka's `start()` raises at once when Kafka refuses or drops the connection. A process that
let that end it would be restarted in a loop by whoever watches it (under Kubernetes with a
growing back-off: screens stale for minutes after a short blip), or, worse, run on half alive.
So a client is started again with a fresh one each try, 0.5 s apart growing to 5 s, said once
per outage ("Kafka does not answer ... waiting for it", then "Kafka answers again"), and the wait
is raced against a stop, so that SIGTERM ends it at once, even inside aiokafka's own `start()`,
which does not watch for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from core.kafka_reconnects import pace_reconnects
from core.settings import Settings

log = logging.getLogger("vq.kafka")

MAX_BACKOFF_S = 5.0
FIRST_BACKOFF_S = 0.5  # 0.5, 1, 2, 4, 5, 5... s


class Startable(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


Client = TypeVar("Client", bound=Startable)


async def started(make: Callable[[], Client], stop: asyncio.Event, name: str) -> Client | None:
    """A client `make` made, started; None once `stop` is set first. `name` says whose wait it
    is in the log (a consumer group, a process)."""
    backoff, waited = FIRST_BACKOFF_S, False
    while not stop.is_set():
        kafka = make()
        starting = asyncio.ensure_future(kafka.start())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((starting, stopping), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # the caller itself was cancelled
            await _settle(kafka, starting, stopping, keep=False)
            raise
        outcome = await _settle(kafka, starting, stopping, keep=True)
        if outcome is None:
            if waited:
                log.info("%s: Kafka answers again", name)
            return kafka
        if isinstance(outcome, asyncio.CancelledError):
            return None  # stopped while it was starting
        if not isinstance(outcome, KafkaError | OSError):
            raise outcome
        if not waited:
            log.warning("%s: Kafka does not answer (%r); waiting for it", name, outcome)
            waited = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)
    return None


async def _settle(
    kafka: Startable,
    starting: asyncio.Future[None],
    stopping: asyncio.Future[Any],
    *,
    keep: bool,
) -> BaseException | None:
    """End the race: the start's outcome (None: it started), the client closed unless it
    started and is to be kept."""
    stopping.cancel()
    starting.cancel()  # nothing, once it is done
    outcome = (await asyncio.gather(starting, return_exceptions=True))[0]
    if outcome is not None or not keep:
        with contextlib.suppress(Exception):
            await kafka.stop()
    return outcome


async def kafka_answers(settings: Settings, name: str) -> bool:
    """Wait until Kafka answers (a producer starts); False if SIGINT or SIGTERM came first.

    For a process whose framework gives up on a Kafka that is away at its start (Faust: `vq
    worker`), run on the loop it will then run on, before it starts; the signal handlers are
    this wait's only."""
    pace_reconnects()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        producer = await started(
            lambda: AIOKafkaProducer(bootstrap_servers=settings.kafka_servers, client_id=name),
            stop,
            name,
        )
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
    if producer is None:
        return False
    await producer.stop()
    return not stop.is_set()  # a signal as it started is not lost
