"""Figures computed when the API is scraped, not counted by a process: the servers' health and
the lags (from the readiness report), and the business figures of the queues (from the read
models). They belong to no single process, so they are measured by someone other than the
process concerned: a relay or a worker that has stopped can no longer say how far behind it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from observability.health import Readiness, Recent

log = logging.getLogger("vq.metrics")

# The servers whose `vq_up` a scrape reports (the readiness checks of the same names).
SERVERS = ("postgresql", "redis", "kafka")
RELAY_LAG = "relay_lag"
CONSUMER_LAG = "consumer_lag"
# The business figures of at most this many queues (the oldest first), computed at most this
# often: a scrape costs one query and two Redis round trips, however often it comes.
MAX_QUEUES = 1_000
FIGURES_CACHE_S = 10.0


class ReadinessCollector:
    """`vq_up{part}`, `vq_relay_lag_events`, `vq_relay_lag_seconds` and
    `vq_consumer_lag{group,topic,partition}` from the latest readiness report (the scrape asks
    for a fresh one first: at most `CACHE_S` old). A lag that could not be measured is absent."""

    def __init__(self, readiness: Readiness, group: str) -> None:
        self._readiness = readiness
        self._group = group

    def collect(self) -> Iterator[Metric]:
        report = self._readiness.last
        if report is None:
            return
        up = GaugeMetricFamily(
            "vq_up", "Whether a server answers the API (1) or not (0)", labels=["part"]
        )
        for part in SERVERS:
            if part in report.checks:
                up.add_metric([part], 1.0 if report.checks[part].ok else 0.0)
        yield up
        relay = report.checks.get(RELAY_LAG)
        if relay is not None and relay.lag is not None:
            yield GaugeMetricFamily(
                "vq_relay_lag_events",
                "Events appended but not yet published to Kafka (counted up to a bound)",
                value=relay.lag.events,
            )
            yield GaugeMetricFamily(
                "vq_relay_lag_seconds",
                "Age of the oldest event not yet published to Kafka (0: none)",
                value=relay.lag.seconds or 0.0,
            )
        consumer = report.checks.get(CONSUMER_LAG)
        if consumer is not None and consumer.lag is not None:
            lag = GaugeMetricFamily(
                "vq_consumer_lag",
                "Records a consumer group has not committed yet, per partition",
                labels=["group", "topic", "partition"],
            )
            for (topic, partition), behind in sorted(consumer.lag.partitions.items()):
                lag.add_metric([self._group, topic, str(partition)], behind)
            yield lag


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """One queue's business figures, as its read models have them."""

    tenant: str
    queue: str
    waiting: int
    served: int  # since the queue was made
    target_s: float
    p90_s: float | None  # of the waits of the last hour (None: nobody called in it)
    accuracy: Mapping[str, float]  # per estimator: share of waits within +/-20 % of its P50


class FiguresCollector:
    """`vq_queue_*` and `vq_estimate_accuracy`, read by `read` (at most `MAX_QUEUES` queues) at
    most every `FIGURES_CACHE_S`. When the read models cannot be read the figures are absent,
    not stale (`vq_up{part="redis"}` says why)."""

    def __init__(
        self,
        read: Callable[[int], Awaitable[Sequence[QueueFigures]]],
        *,
        cache_s: float = FIGURES_CACHE_S,
        limit: int = MAX_QUEUES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._limit = limit
        self._recent: Recent[Sequence[QueueFigures]] = Recent(self._safely, cache_s, clock)

    async def refresh(self) -> None:
        await self._recent.get()

    async def _safely(self) -> Sequence[QueueFigures]:
        try:
            return await self._read(self._limit)
        except Exception as exc:  # a scrape must answer whatever the read models do
            log.warning("queue figures unavailable: %s: %s", type(exc).__name__, exc)
            return ()

    def collect(self) -> Iterator[Metric]:
        rows = self._recent.last or ()
        labels = ["tenant", "queue"]
        waiting = GaugeMetricFamily(
            "vq_queue_waiting", "People waiting in the queue", labels=labels
        )
        p90 = GaugeMetricFamily(
            "vq_queue_wait_p90_seconds",
            "90th percentile of the waits (enqueue to first call) of the last hour",
            labels=labels,
        )
        target = GaugeMetricFamily(
            "vq_queue_wait_target_seconds", "The queue's target wait", labels=labels
        )
        served = CounterMetricFamily(
            "vq_queue_served", "People served since the queue was made", labels=labels
        )
        accuracy = GaugeMetricFamily(
            "vq_estimate_accuracy",
            "Share of waits within +/-20 % of the P50 an estimator gave at enqueue",
            labels=[*labels, "estimator"],
        )
        for row in rows:
            names = [row.tenant, row.queue]
            waiting.add_metric(names, row.waiting)
            target.add_metric(names, row.target_s)
            served.add_metric(names, row.served)
            if row.p90_s is not None:
                p90.add_metric(names, row.p90_s)
            for estimator, share in sorted(row.accuracy.items()):
                accuracy.add_metric([*names, estimator], share)
        yield from (waiting, p90, target, served, accuracy)
