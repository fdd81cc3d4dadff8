"""The product's Prometheus metrics: their names (a contract with the alert rules and the
dashboard, see README "Health and metrics"), the few calls that record them, and how a process
exposes them.

Counters and histograms live in the process that counts them (prometheus-client's default
registry). `vq api --workers N` runs N processes behind one port: with PROMETHEUS_MULTIPROC_DIR
set (a folder of the API's own, empty at start), each process writes its values there and
`/metrics`, whichever process answers it, adds up every one's (`exposition`). Unset, one process
answers with its own registry. Figures that belong to no single process (lags, the queues, the
servers' health) are computed by whoever is scraped, at scrape time (observability/collectors.py).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

log = logging.getLogger("vq.metrics")

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # understood by every Prometheus version

# Seconds: from a Redis read (~0.2 ms) to the request deadline (10 s, vq/api.py).
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SIZES = (1, 2, 3, 5, 10, 25, 50, 100, 250, 500, 1000)

# -- the API ------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "vq_http_requests",
    "HTTP requests answered, by route template (`unmatched`: no route), method and status; "
    "live streams (SSE, WebSocket) are counted when they start",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "vq_http_request_duration_seconds",
    "Time to answer an HTTP request, whole body sent (live streams are not observed)",
    ["route", "method"],
    buckets=_LATENCY,
)
LIVE_FOLLOWERS = Gauge(
    "vq_live_followers",
    "Live followers (SSE and WebSocket streams) this API holds, all its processes together",
    multiprocess_mode="livesum",
)

# -- the event store ----------------------------------------------------------------------------
APPENDS = Counter(
    "vq_eventstore_appends",
    "Append transactions, by outcome: ok, conflict (another writer got there first), error",
    ["outcome"],
)
APPEND_EVENTS = Histogram(
    "vq_eventstore_append_events", "Events per committed append (the group size)", buckets=_SIZES
)
APPEND_DURATION = Histogram(
    "vq_eventstore_append_duration_seconds",
    "An append transaction, from taking the streams' locks to the commit",
    buckets=_LATENCY,
)

# -- the relay ----------------------------------------------------------------------------------
RELAY_PUBLISHED = Counter(
    "vq_relay_published", "Events the relay published to Kafka (acknowledged by every replica)"
)

# -- the stream workers -------------------------------------------------------------------------
CONSUMER_BATCH = Histogram(
    "vq_consumer_batch_size", "Events per batch a stream worker folds", buckets=_SIZES
)
GAP_REPAIRS = Counter(
    "vq_projection_gap_repairs",
    "Holes in what Kafka gave a worker read from the event store, and read models found "
    "elsewhere than expected (reloaded)",
)
APPLY_DURATION = Histogram(
    "vq_projection_apply_duration_seconds",
    "Folding one batch into the read models (Redis writes and pushes included)",
    buckets=_LATENCY,
)

# -- notifications ------------------------------------------------------------------------------
DELIVERIES = Counter(
    "vq_deliveries",
    "Delivery attempts, by channel and outcome (delivered, failed, refused, gone)",
    ["channel", "outcome"],
)


NOTIFIER_SKIPPED = Counter(
    "vq_notifier_skipped_records",
    "Records of the events or positions topic the notifier could not decode, and skipped (the "
    "workers dead-letter the events topic's: `vq deadletters`)",
    ["topic"],
)


def appended(outcome: str, events: int = 0, seconds: float | None = None) -> None:
    """One append transaction ended: `ok` (with its events and duration), `conflict`, `error`."""
    APPENDS.labels(outcome).inc()
    if outcome == "ok":
        APPEND_EVENTS.observe(events)
        if seconds is not None:
            APPEND_DURATION.observe(seconds)


def folded(batch: int, seconds: float) -> None:
    """A stream worker folded a batch of `batch` events in `seconds`."""
    CONSUMER_BATCH.observe(batch)
    APPLY_DURATION.observe(seconds)


def delivered(channel: str, outcome: str) -> None:
    DELIVERIES.labels(channel, outcome).inc()


# -- exposing -----------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_VARIABLE) or None


class _Together:
    """Several collectors as one, in order (what a scrape of the API reads)."""

    def __init__(self, collectors: Iterable[Collector]) -> None:
        self._collectors = tuple(collectors)

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


def exposition(*extra: Collector) -> bytes:
    """The text a scrape gets: this process's metrics (or, in multi-process mode, every API
    process's, added up), then `extra` (figures computed at scrape time)."""
    # No `_created` series beside each counter and histogram: twice the series for nothing.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    path = multiprocess_dir()
    own: Collector = REGISTRY
    if path:
        own = MultiProcessCollector(None, path)  # type: ignore[no-untyped-call]
    return generate_latest(_Together((own, *extra)))


def share_between_processes() -> str:
    """Before a server starts several processes behind one port (`vq api --workers N`): the
    folder where each will keep its values for `/metrics` to add up. The one
    PROMETHEUS_MULTIPROC_DIR names, emptied (an earlier run's counts would add up too), else a
    fresh one removed at exit; set in the environment the processes inherit."""
    path = multiprocess_dir()
    if path:
        for stale in Path(path).glob("*.db"):
            stale.unlink(missing_ok=True)
        return path
    path = tempfile.mkdtemp(prefix="vq-metrics-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    os.environ[MULTIPROC_VARIABLE] = path
    return path


def process_ended() -> None:
    """In multi-process mode, drop this process's live gauges (its followers are gone)."""
    path = multiprocess_dir()
    if path:
        with contextlib.suppress(OSError):
            mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]


def port_argument(parser: argparse.ArgumentParser) -> None:
    """`--metrics-port` of a process that serves its metrics on a port of its own."""
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on this port (default: VQ_METRICS_PORT; unset: none)",
    )


def serve(port: int | None, host: str, what: str) -> bool:
    """Expose this process's registry on http://host:port/metrics (a thread of its own; the
    relay, the workers, the notifier). None: not asked. A port that is taken is said in the log
    and the process runs on without metrics: they must never stop the product."""
    if port is None:
        return False
    disable_created_metrics()  # type: ignore[no-untyped-call]
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.error("%s: metrics not served on %s:%d: %s", what, host, port, exc)
        return False
    log.info("%s: metrics on http://%s:%d/metrics", what, host, port)
    return True


async def sample(
    gauge: Gauge, read: Callable[[], int], stop: asyncio.Event, every_s: float
) -> None:
    """Set `gauge` to `read()` every `every_s` until `stop` (figures kept by an object that
    counts them anyway, such as the live hub's followers)."""
    while not stop.is_set():
        gauge.set(read())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
