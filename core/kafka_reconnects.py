"""How soon this process's Kafka clients connect again to a broker that just refused them.

aiokafka (0.11 to 0.14) has no reconnect backoff: a client whose broker is away tries again every
`retry_backoff_ms` (100 ms) from each of its loops (fetcher, group coordinator, metadata), and a
`vq notifier`'s eight consumers knocked about 290 times a second on a stopped broker; twenty
notifiers would pound it while it recovers. This is Kafka's own remedy (KIP-144: the Java
clients' `reconnect.backoff.ms`, rising exponentially, jittered, to `reconnect.backoff.max.ms`),
kept per broker address for the whole process rather than per client: after a connection to an
address fails, no client of the process connects to it again before the backoff has passed (one
that asks meanwhile fails at once, as if it had tried, and retries on its own schedule); the
backoff doubles while the broker keeps failing, up to CEILING_S; the first connection that works
ends it for every client, so they all come back together, at most CEILING_S (jittered) after the
broker did. Measured on a notifier whose broker went away (tests/integration/test_kafka_backoff.py):
298 connections a second before, 1 after; delivering again 0.7 s after the broker's return (0.1 s
before); its CPU while Kafka was away 3% (9% before).

aiokafka offers no hook for it: `pace_reconnects` swaps the connection factory its client module
calls (`aiokafka.client.create_conn`: every connection, bootstrap and broker, is made there).
tests/unit/core/test_kafka_reconnects.py checks that aiokafka still makes them there.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import aiokafka.client
from aiokafka.errors import KafkaConnectionError

FIRST_S = 0.05  # Java's reconnect.backoff.ms
CEILING_S = 1.0  # Java's reconnect.backoff.max.ms
JITTER = 0.2  # each wait is stretched or shrunk by up to this share (KIP-144's)


class Backoff:
    """One broker address's: whether a connection may be tried now (`take`), and what a try's
    outcome does to the next one."""

    __slots__ = ("_clock", "_delay", "_random", "_until")

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._clock, self._random = clock, jitter
        self._delay = 0.0  # 0: the last try worked (or none was made)
        self._until = 0.0

    def take(self) -> bool:
        """Whether a connection may be tried now: always while the address works (clients that
        start together connect together); after a failure, once the wait has passed, by one
        client at a time (taking it holds the others back for another wait, or until its
        outcome is known: a broker that is away is not asked by every client at once)."""
        if not self._delay:
            return True
        now = self._clock()
        if now < self._until:
            return False
        self._until = now + self._delay
        return True

    def failed(self) -> None:
        self._delay = min(CEILING_S, self._delay * 2) if self._delay else FIRST_S
        self._until = self._clock() + self._delay * (1 + JITTER * (2 * self._random() - 1))

    def worked(self) -> None:
        self._delay = self._until = 0.0

    @property
    def wait_s(self) -> float:
        return max(0.0, self._until - self._clock())


_BROKERS: dict[tuple[str, int], Backoff] = {}
_made_by_aiokafka = aiokafka.client.create_conn


async def _paced_create_conn(host: str, port: int, **options: Any) -> Any:
    backoff = _BROKERS.setdefault((host, port), Backoff())
    if not backoff.take():
        raise KafkaConnectionError(
            f"{host}:{port} refused a connection a moment ago; next try in {backoff.wait_s:.2f} s"
        )
    try:
        conn = await _made_by_aiokafka(host, port, **options)
    except Exception:  # cancelled: no outcome, the hold `take` set ends by itself
        backoff.failed()
        raise
    backoff.worked()
    return conn


def pace_reconnects() -> None:
    """Every aiokafka client of this process, from now on, connects under the brokers'
    backoffs. Called where our long-running clients are made; doing it again changes nothing."""
    aiokafka.client.create_conn = _paced_create_conn
