"""The API process's composition root: the HTTP app, its pools and services, made in the lifespan
(never at import) from one validated `Settings`. `uvicorn vq.api:app_factory --factory` serves it
(as `vq api` does)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

import redis.asyncio as aioredis
from fastapi import APIRouter, FastAPI
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from access.directory import TenantDirectory
from access.sessions import Sessions
from access.tokens import AccessTokens
from access_api import (
    routes_audit,
    routes_auth,
    routes_jwks,
    routes_keys,
    routes_mfa,
    routes_settings,
    routes_sso,
    routes_users,
)
from advice_api import routes_staffing
from advice_api.jobs import StaffingJobs
from command_api import (
    routes_appointments,
    routes_breaks,
    routes_counters,
    routes_moves,
    routes_queues,
    routes_routing,
    routes_sites,
    routes_tickets,
)
from core import collector
from core.clock import Clock, service_clock
from core.revocations import revocations_channel
from core.settings import Settings, get_settings
from eventstore.pool import connect, open_pool
from eventstore.postgres import PostgresEventStore
from exports_api import routes as routes_export
from http_api import ratelimit, security
from http_api.auth import Authenticator
from http_api.deps import Services
from http_api.errors import install_error_handlers
from http_api.limits import BodyLimitMiddleware, DeadlineMiddleware, EncodedSlashMiddleware
from http_api.openapi import truthful_openapi
from http_api.route_index import index_routes
from notifications.outbound import Guard
from notifications.outlet import Outlet
from notifications_api import (
    routes_deliveries,
    routes_manage,
    routes_optout,
    routes_subscriptions,
    routes_templates,
    routes_webhooks,
)
from notifications_api.deps import Notifications
from observability import tracing
from observability.logs import RequestLog, configure_logging
from privacy_api import routes as routes_privacy
from projections.fanout import Hub, changes_pattern
from projections.layout import Keys
from projections.leases import LiveLimits
from projections.queries import ReadModels
from query_api import advice, analytics, live, operations, routes, routing, sites, templates
from query_api import appointments as query_appointments
from query_api.deps import requested_wait
from service_layer.queues import QueueService
from service_layer.scheduler import AgingScheduler
from web import routes as web_pages
from web import routes_boards, routes_qr, routes_worker

log = logging.getLogger("vq.api")

RETRY_AFTER_S = 2
# No request is allowed to hang: past this, the caller gets a 503 and may retry.
REQUEST_DEADLINE_S = 10.0
MAX_BODY_BYTES = 64 * 1024
KEY_USAGE_FLUSH_S = 10.0
# The query side's Redis connections per process, and how long a request waits for a free one.
READ_CONNECTIONS = 64
POOL_WAIT_S = 2.0
# Middle-generation collections between two full ones (CPython: 10): see _settle_memory.
FULL_GC_EVERY = 1000
# On SIGTERM, how long the live streams may take to end before the server stops anyway.
LIVE_END_WAIT_S = 1.0

DESCRIPTION = (
    "Commands change queues: every success answers the queue's new `stream_version` and "
    "the ids of the events it appended. Every command accepts an `Idempotency-Key`. "
    "Errors are RFC 9457 problem details (`application/problem+json`) whose `type` is "
    "stable; see `GET /problems/{code}`."
)


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    """The API; `clock` (tests) replaces the one the settings ask for (`service_clock`)."""
    api_clock = clock or service_clock(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # wait=False: the API starts (and answers 503) even while PostgreSQL is still down.
        pool = await open_pool(settings, wait=False)
        store = PostgresEventStore(pool)
        directory = TenantDirectory(store)
        read_redis, hub_redis = _redis_clients(settings)
        hub = Hub(
            hub_redis,
            changes_pattern(settings.redis_prefix),
            revocations=revocations_channel(settings.redis_prefix),
            limits=LiveLimits(per_client=settings.live_per_client, total=settings.live_max),
        )
        hub.start()
        app.state.hub = hub  # the live routes admit their connections to it (query_api/leases)
        unhook = _end_live_on_signal(hub)
        queues = QueueService(store, api_clock, cache_tickets=settings.state_cache_tickets)
        tokens = AccessTokens(pool, read_redis, settings)
        authenticator = Authenticator(directory, tokens)
        hub.on_revoked = lambda revoked: authenticator.forget() if "key_id" in revoked else None
        app.state.services = Services(
            settings=settings,
            store=store,
            queues=queues,
            directory=directory,
            pool=pool,
            redis=read_redis,
            tokens=tokens,
            sessions=Sessions(pool, settings),
            authenticator=authenticator,
            read_models=ReadModels(
                read_redis, Keys(settings.redis_prefix), store, clock=api_clock, hub=hub
            ),
        )
        scheduler = AgingScheduler(
            store, queues, lambda: connect(settings), interval_s=settings.aging_interval_s
        )
        app.state.scheduler = scheduler
        outlet, staffing_jobs = _notifications_and_advice(app, settings, pool, read_redis)
        stop_scheduler = asyncio.Event()
        scheduling = asyncio.create_task(scheduler.run(stop_scheduler))
        usage = asyncio.create_task(_flush_key_usage(directory, stop_scheduler))
        try:
            yield
        finally:
            unhook()
            await hub.close()  # open streams end: their clients reconnect (to another replica)
            await hub_redis.aclose()
            stop_scheduler.set()
            await scheduling
            await usage
            await outlet.aclose()
            await staffing_jobs.aclose()
            await read_redis.aclose()
            await pool.close()

    app = FastAPI(
        title="virtual-queue API", version="1.0.0", description=DESCRIPTION, lifespan=lifespan
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    ratelimit.install(app, settings)
    security.install(app, settings)
    # A read-your-writes query may wait for the read model as long as it asked to (bounded).
    app.add_middleware(
        DeadlineMiddleware,
        seconds=REQUEST_DEADLINE_S,
        extra=requested_wait,
        retry_after_s=RETRY_AFTER_S,
    )
    # Outside the limits and routes: a path that could be read two ways reaches none of them.
    app.add_middleware(EncodedSlashMiddleware)
    _include_routers(app, api_clock)
    index_routes(app)
    install_error_handlers(app)
    truthful_openapi(app)
    return app


def _notifications_and_advice(
    app: FastAPI, settings: Settings, pool: Any, client: aioredis.Redis
) -> tuple[Outlet, StaffingJobs]:
    """The notification routes' outlet and guard, and the staffing plans' background jobs."""
    # Kafka is reached on the first message only (a test ping, a replay).
    outlet = Outlet(settings, client_id="vq-api")
    app.state.notifications = Notifications(
        pool, outlet, Guard.allowing(settings.outbound_networks)
    )
    app.state.advice = StaffingJobs(client, settings.redis_prefix, settings.redis_dsn)
    return outlet, app.state.advice


async def _flush_key_usage(directory: TenantDirectory, stop: asyncio.Event) -> None:
    """Write the API keys' last use and counts every few seconds, and once more at the end."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), KEY_USAGE_FLUSH_S)
        await directory.flush_usage()


# The app's routers, in the order their routes are matched.
ROUTERS: tuple[APIRouter, ...] = (
    routes_queues.router,
    routes_moves.router,
    routes_routing.router,
    routes_counters.router,
    routes_breaks.router,
    routes_sites.router,
    routes_appointments.router,
    query_appointments.router,
    routes_tickets.router,
    routes.router,
    routing.router,
    templates.router,
    sites.router,
    live.router,
    analytics.router,
    advice.router,
    routes_staffing.router,
    routes_optout.router,  # stopping from the message itself (a subscription's business)
    routes_subscriptions.router,
    routes_templates.router,
    routes_webhooks.router,
    routes_deliveries.router,
    routes_manage.router,
    routes_auth.router,
    routes_users.router,
    routes_mfa.router,
    routes_sso.router,
    routes_keys.router,
    routes_settings.router,
    routes_audit.router,
    routes_export.router,
    routes_privacy.router,
    routes_jwks.router,
    web_pages.router,
    routes_boards.router,
    routes_qr.router,
    routes_worker.router,
)


def _include_routers(app: FastAPI, api_clock: Clock) -> None:
    for router in ROUTERS:
        _add_routes(app, router)
    operations.install(app, api_clock)  # /healthz, /readyz, /metrics (and HTTP metrics)


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes, each straight on the app's router. Included (FastAPI 0.165), every
    request would walk each router listed before its own, and match its own twice: a request's
    CPU before its route's work is a fifth to a half more so (`python -m bench.http_floor`,
    against `--included`). Our routers carry their prefix, tags and dependencies in their routes
    already (given at decoration) and are included with nothing more, so the routes and the
    OpenAPI document are the same (tests/unit/http_api/test_flat_routes.py). Unlike included routes, these do not
    see `app.dependency_overrides` (nothing here uses them)."""
    app.router.routes.extend(router.routes)


def _end_live_on_signal(hub: Hub) -> Callable[[], None]:
    """On SIGTERM or SIGINT, end every live stream at once, then let the server stop as it would.

    uvicorn runs the lifespan's shutdown (which closes the hub) only after its graceful window,
    which open streams would fill, to be cut mid-way at its end. Ended first, they end between
    two events: their clients resume on another replica with Last-Event-ID right away, and the
    process exits in well under a second. The server's own handler (uvicorn's, in each worker of
    `--workers N` too) is called once the streams have ended (LIVE_END_WAIT_S at most), not at
    the same time: else its shutdown could close a WebSocket first, with 1012 "service restart"
    instead of our 1001 "going away" (it did, in 3 of 7 runs of test_live_replicas). A second
    signal goes to it at once (a second Ctrl-C forces the exit). Nothing is hooked where no
    handler is (the signal's default), nor off the main thread. Returns what puts the server's
    handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    closing: set[asyncio.Task[None]] = set()  # a reference, so the task is not collected

    async def close_then(then: Callable[[int, FrameType | None], Any], number: int) -> None:
        try:
            async with asyncio.timeout(LIVE_END_WAIT_S):
                await hub.close()
                await hub.drained()  # each stream releases its lease once it has ended
        except TimeoutError:
            log.warning("live streams still open %.1fs after the signal", LIVE_END_WAIT_S)
        finally:
            then(number, None)

    def close_hub(then: Callable[[int, FrameType | None], Any], number: int) -> None:
        task = loop.create_task(close_then(then, number), name="vq-fanout-close")
        closing.add(task)
        task.add_done_callback(closing.discard)

    hooked: dict[int, tuple[Callable[[int, FrameType | None], Any], Any]] = {}
    signalled: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if not callable(previous):
            continue

        def on_signal(
            number: int,
            frame: FrameType | None,
            then: Callable[[int, FrameType | None], Any] = previous,
        ) -> None:
            if signalled:  # stopping already: the server's handler at once
                then(number, frame)
                return
            signalled.append(number)
            loop.call_soon_threadsafe(close_hub, then, number)  # safe from a signal handler

        signal.signal(signum, on_signal)
        hooked[signum] = (on_signal, previous)

    def unhook() -> None:
        for signum, (ours, previous) in hooked.items():
            if signal.getsignal(signum) is ours:  # else someone replaced it since: leave theirs
                signal.signal(signum, previous)

    return unhook


def _redis_clients(settings: Settings) -> tuple[aioredis.Redis, aioredis.Redis]:
    """The query side's pool, and the connection of live push's one subscription."""
    # The query side's Redis: short timeouts and one quick retry (a pooled connection may
    # be stale after a Redis restart), so a dead Redis is a 503 at once, not a hang.
    # At most READ_CONNECTIONS of them, however many requests and followers there are:
    # past that a request waits for a free one (a 503 after POOL_WAIT_S).
    name = _client_name(settings.redis_prefix)
    read_redis = aioredis.Redis.from_pool(
        aioredis.BlockingConnectionPool.from_url(
            settings.redis_dsn,
            max_connections=READ_CONNECTIONS,
            timeout=POOL_WAIT_S,
            socket_connect_timeout=1.0,
            socket_timeout=3.0,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
            client_name=name,
        )
    )
    # Every live follower of this process listens through this one connection. It never
    # retries by itself: a reconnect would hide the messages missed meanwhile, so the hub
    # ends its followers instead (they resume with Last-Event-ID) and subscribes again.
    hub_redis = aioredis.Redis.from_url(
        settings.redis_dsn,
        socket_connect_timeout=1.0,
        socket_timeout=3.0,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
        client_name=f"{name}:live",
    )
    return read_redis, hub_redis


def _client_name(prefix: str) -> str:
    """This API process's name in Redis's CLIENT LIST (no spaces allowed there): the prefix and
    the process id, so that an operator (or the benchmark) tells the replicas apart."""
    cleaned = "".join(c if c.isprintable() and not c.isspace() else "_" for c in prefix)
    return f"vq-api:{cleaned}:{os.getpid()}"


def app_factory() -> FastAPI:
    settings = get_settings()
    # Here, not in `vq api`: each of `--workers N` processes builds its app (and exporter) itself.
    configure_logging("api", settings)
    tracing.configure_tracing("api", settings)
    app = create_app(settings)
    app.add_middleware(RequestLog)  # outermost: a log line and a span for every answer
    _settle_memory()
    return app


def _settle_memory() -> None:
    """For a served API (core/collector.py): thousands of live connections keep many objects
    alive, and each full pass over them stops the event loop (measured: 1.3 s every 4-5 s with
    10,000 followers on CPython's default)."""
    collector.settle(FULL_GC_EVERY)
