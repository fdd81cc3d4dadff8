"""Operations: is the process alive, can it work, what does it measure, what time does it think
it is, and what each problem type means.

`/healthz` is the process answering (no I/O). `/readyz` asks every part the API depends on
(observability/health.py): PostgreSQL, Redis and Kafka answer, and the relay and the stream
workers are not too far behind; a 503 names the failing parts. `/metrics` is Prometheus's: this
API's own counters (all its worker processes', see observability/metrics.py), then what a scrape
computes: the servers' health, the lags and the queues' business figures.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Literal

import redis.asyncio as aioredis
from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel, Field

from core.clock import Clock, ScaledClock
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from eventstore.relay import CHECKPOINT as RELAY_CHECKPOINT
from http_api.auth import permission
from http_api.problems import PROBLEMS, ProblemError, problem_responses
from observability import metrics
from observability.collectors import (
    CONSUMER_LAG,
    RELAY_LAG,
    FiguresCollector,
    QueueFigures,
    ReadinessCollector,
)
from observability.health import LAG_GRACE_S, Lag, Probe, Readiness
from observability.http_metrics import HttpMetrics
from observability.kafka_probe import KafkaProbe
from projections.analytics import BUCKET_S
from projections.analytics_report import percentile
from projections.fanout import Hub
from projections.layout import Keys
from query_api import freshness
from query_api.asyncapi import cached_document
from topics.deadletters import group_of
from topics.readiness import DEAD_LETTERS, pending_dead_letters

RETRY_AFTER_S = 2
# Readiness writes this key (under the Redis prefix) to know Redis takes writes; it expires.
READY_PROBE_KEY = "ready-probe"
READY_PROBE_TTL_S = 30
FOLLOWERS_EVERY_S = 1.0
P90_WINDOW = timedelta(hours=1)
# Relay lag is counted up to this many events (an index scan; a larger backlog reads "100000").
RELAY_LAG_COUNT_MAX = 100_000


class ClockOut(BaseModel):
    """What time the API thinks it is, and how fast that time runs."""

    now: datetime = Field(description="The time new events are stamped with (ISO-8601, UTC)")
    speed: float = Field(description="Simulated seconds per real second (1 = real time)")


class CheckOut(BaseModel):
    ok: bool
    ms: float = Field(description="How long the part took to answer")
    events: int | None = Field(
        default=None, description="Lags: events behind; dead_letters: not replayed yet"
    )
    seconds: float | None = Field(default=None, description="Relay lag: the oldest one's age")
    max: int | None = Field(default=None, description="Lags: the bound (VQ_READY_MAX_*)")
    error: str | None = Field(default=None, description="timeout, unavailable or over bound")
    measured_s_ago: float | None = Field(
        default=None,
        description="Lags: this measurement timed out; the figures are the last one's, this many "
        f"seconds old (a lag stands on its last measurement up to {LAG_GRACE_S:g} s)",
    )


class ReadyOut(BaseModel):
    status: Literal["ready"]
    checks: dict[str, CheckOut] = Field(
        description="postgresql, redis, kafka, relay_lag, consumer_lag, dead_letters"
    )


class Operations:
    """The API process's readiness and the figures its scrapes compute; made in the lifespan."""

    def __init__(
        self,
        settings: Settings,
        store: PostgresEventStore,
        redis: aioredis.Redis,
        hub: Hub,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.kafka = KafkaProbe(
            settings.kafka_servers,
            settings.events_topic,
            settings.worker_group,
            client_id=f"{settings.topic_prefix}-api-probe",
        )

        # The dead letters not yet replayed: reported, never a reason to be unready (no bound).
        self.dead_letters = KafkaProbe(
            settings.kafka_servers,
            settings.events_dead_letter_topic,
            group_of(settings.topic_prefix),
            client_id=f"{settings.topic_prefix}-api-dead-letters",
        )

        async def relay_lag() -> Lag:
            events, seconds = await store.unpublished(RELAY_CHECKPOINT, RELAY_LAG_COUNT_MAX)
            return Lag(events=events, seconds=seconds)

        probe_key = f"{settings.redis_prefix}:{READY_PROBE_KEY}"

        async def ping_redis() -> None:
            # A write, not a PING: a Redis that answers but refuses writes (full with
            # `noeviction`, a replica, a failed snapshot) holds the workers back, and a full one
            # refuses reads of queues too (a MULTI); a PING would call it fine. One round trip.
            await redis.set(probe_key, int(time.time()), ex=READY_PROBE_TTL_S)

        self.readiness = Readiness(
            [
                Probe("postgresql", store.ping),
                Probe("redis", ping_redis),
                Probe("kafka", self.kafka.ping),
                Probe(RELAY_LAG, relay_lag, settings.ready_max_relay_lag, LAG_GRACE_S),
                Probe(CONSUMER_LAG, self.kafka.lag, settings.ready_max_consumer_lag, LAG_GRACE_S),
                Probe(DEAD_LETTERS, lambda: pending_dead_letters(self.dead_letters)),
            ]
        )
        keys = Keys(settings.redis_prefix)
        self.figures = FiguresCollector(
            lambda limit: read_figures(store, redis, keys, clock(), limit)
        )
        self._collectors = (ReadinessCollector(self.readiness, settings.worker_group), self.figures)
        self._hub = hub
        self._relay_lag = relay_lag
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        hub, stall_s = self._hub, self.settings.read_side_stall_s
        self._tasks = [
            asyncio.create_task(
                metrics.sample(
                    metrics.LIVE_FOLLOWERS, lambda: hub.followers, self._stop, FOLLOWERS_EVERY_S
                )
            ),
            asyncio.create_task(
                freshness.watch(
                    self.kafka.lag,
                    self._relay_lag,
                    hub.read_side_judged,
                    lambda: hub.followers > 0,
                    self._stop,
                    stall_s,
                    min(freshness.EVERY_S, stall_s / 2),
                )
            ),
        ]

    async def aclose(self) -> None:
        self._stop.set()
        for task in self._tasks:
            await task
        await self.kafka.aclose()
        await self.dead_letters.aclose()
        metrics.process_ended()

    async def scrape(self) -> bytes:
        await asyncio.gather(self.readiness.report(), self.figures.refresh())
        return metrics.exposition(*self._collectors)


async def read_figures(
    store: PostgresEventStore, redis: aioredis.Redis, keys: Keys, now: datetime, limit: int
) -> list[QueueFigures]:
    """The first `limit` queues' figures from their read models: two pipelined round trips."""
    owners = await store.queues(limit)
    start = int((now - P90_WINDOW).timestamp())
    first_bucket = start - start % BUCKET_S
    pipe = redis.pipeline(transaction=False)
    for tenant, queue in owners:
        pipe.hget(keys.queue(tenant, queue), "view")
        pipe.get(keys.accuracy(tenant, queue))
        pipe.zrangebyscore(keys.analytics_index(tenant, queue), first_bucket, "+inf")
    found = await pipe.execute()
    samples = redis.pipeline(transaction=False)
    for index, (tenant, queue) in enumerate(owners):
        for bucket in found[index * 3 + 2]:
            # The wait samples of a bucket (projections/analytics.py SAMPLES), in milliseconds.
            samples.lrange(f"{keys.analytics(tenant, queue, int(bucket))}:wait", 0, -1)
    waits = iter(await samples.execute())
    figures = []
    for index, (tenant, queue) in enumerate(owners):
        view, accuracy, buckets = found[index * 3 : index * 3 + 3]
        ms = sorted(int(v) for _ in buckets for v in next(waits))
        if view is None:
            continue  # not projected yet (or the read models are being rebuilt)
        figures.append(_figures(tenant, queue, json.loads(view), accuracy, ms))
    return figures


def _figures(
    tenant: str, queue: str, view: dict[str, Any], accuracy: bytes | None, waits_ms: Sequence[int]
) -> QueueFigures:
    shares: dict[str, float] = {}
    if accuracy is not None:
        for figure in json.loads(accuracy).get("estimators", []):
            if figure.get("within_20_percent") is not None:
                shares[str(figure["estimator"])] = float(figure["within_20_percent"])
    p90 = percentile(waits_ms, 0.9)
    return QueueFigures(
        tenant=tenant,
        queue=queue,
        waiting=int(view.get("waiting", 0)),
        served=int(view.get("totals", {}).get("served", 0)),
        target_s=float(view.get("target_wait_seconds", 0)),
        p90_s=None if p90 is None else p90 / 1000,
        accuracy=shares,
    )


def _may_scrape(request: Request, settings: Settings) -> None:
    """With VQ_METRICS_TOKEN set, its bearer only; without, loopback callers only, and none a
    proxy passed on (a proxy on this machine would make everyone loopback)."""
    token = settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise ProblemError("unauthorized", "send VQ_METRICS_TOKEN as a bearer token")
        return
    forwarded = "forwarded" in request.headers or "x-forwarded-for" in request.headers
    host = request.client.host if request.client else None
    if (forwarded and not settings.trust_forwarded_for) or not _loopback(host):
        raise ProblemError(
            "forbidden", "metrics answer loopback only; set VQ_METRICS_TOKEN to scrape from afar"
        )


def _loopback(host: str | None) -> bool:
    if host is None:  # a Unix socket: this machine
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _operations(request: Request) -> Operations:
    found: Operations = request.app.state.operations
    return found


def install(app: FastAPI, clock: Clock) -> None:
    """The operations routes, their `Operations` (made once the app's lifespan has made the
    services, closed before they are), and the HTTP metrics of every request."""

    @asynccontextmanager
    async def operating(app: FastAPI) -> AsyncIterator[None]:
        services = app.state.services
        store = PostgresEventStore(services.pool)
        ops = Operations(services.settings, store, services.redis, app.state.hub, clock)
        ops.start()
        app.state.operations = ops
        try:
            yield
        finally:
            await ops.aclose()

    app.include_router(router(clock, operating))
    app.add_middleware(HttpMetrics, routes=app.router.routes)


def router(clock: Clock, lifespan: Any = None) -> APIRouter:
    """The operations routes, telling the time of `clock`; `lifespan` runs inside the app's."""
    ops = APIRouter(tags=["operations"], lifespan=lifespan)
    speed = clock.speed if isinstance(clock, ScaledClock) else 1.0

    @ops.get("/healthz", summary="The process is alive", openapi_extra=permission("public"))
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @ops.get(
        "/v1/clock",
        response_model=ClockOut,
        summary="The API's time (accelerated when VQ_CLOCK_START or VQ_CLOCK_SPEED is set)",
        openapi_extra=permission("public"),
    )
    async def clock_now() -> ClockOut:
        """Events are stamped with this time; a simulation driver aligns its own timeline to it."""
        return ClockOut(now=clock(), speed=speed)

    @ops.get(
        "/readyz",
        response_model=ReadyOut,
        response_model_exclude_none=True,
        summary="PostgreSQL, Redis and Kafka answer; the relay and the workers keep up",
        responses=problem_responses("service-unavailable", common=()),
        openapi_extra=permission("public"),
    )
    async def readyz(request: Request) -> dict[str, Any]:
        """A 503 names the failing parts in `detail` and `failing`, with every check in
        `checks`. Answers are at most a second or two old."""
        report = await _operations(request).readiness.report()
        if not report.ready:
            raise ProblemError(
                "service-unavailable",
                "not ready: " + ", ".join(report.failing),
                headers={"Retry-After": str(RETRY_AFTER_S)},
                extensions={"failing": report.failing, "checks": report.as_dict()["checks"]},
            )
        return report.as_dict()

    @ops.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi(request: Request) -> dict[str, Any]:
        """The AsyncAPI 3.0 document of every topic the product writes (query_api/asyncapi.py)."""
        return cached_document(_operations(request).settings)

    @ops.get("/metrics", include_in_schema=False)
    async def metrics_text(request: Request) -> Response:
        """Prometheus's text format (see README "Health and metrics")."""
        operations = _operations(request)
        _may_scrape(request, operations.settings)
        return Response(await operations.scrape(), media_type=metrics.CONTENT_TYPE)

    @ops.get(
        "/problems/{code}",
        summary="What a problem type means",
        responses=problem_responses("not-found", "validation", common=()),
        openapi_extra=permission("public"),
    )
    async def problem_doc(code: str) -> dict[str, object]:
        if code not in PROBLEMS:
            raise ProblemError("not-found", f"no problem type {code}")
        status, title = PROBLEMS[code]
        return {"type": f"/problems/{code}", "status": status, "title": title}

    return ops
