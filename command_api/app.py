"""The command API's composition root: pools and services are made in the lifespan, never at import."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.exceptions import HTTPException as StarletteHTTPException

from command_api import routes_admin, routes_queues, routes_tickets
from command_api.auth import Authenticator
from command_api.clock import ScaledClock, service_clock
from command_api.deps import Services
from command_api.handlers import Clock, QueueBusy, QueueService, VersionConflict
from command_api.limits import BodyLimitMiddleware, DeadlineMiddleware
from command_api.models import ClockOut
from command_api.problems import PROBLEM_MEDIA_TYPE, PROBLEMS, ProblemError, problem_responses
from command_api.scheduler import AgingScheduler
from domain.errors import Rejected
from eventstore.errors import StoreUnavailable
from eventstore.pool import connect, open_pool
from eventstore.store import EventStore
from eventstore.tenants import TenantDirectory
from projections import analytics_api, pages
from projections import api as queries_api
from projections.layout import Keys
from projections.queries import ReadModels, ReadModelUnavailable
from vq.settings import Settings

log = logging.getLogger("vq.api")

RETRY_AFTER_S = 2
# No request is allowed to hang: past this, the caller gets a 503 and may retry.
REQUEST_DEADLINE_S = 10.0
# Starlette's and FastAPI's own HTTP errors, as problem types (FastAPI gives a 400 when a body
# cannot be read or parsed).
_HTTP_PROBLEMS = {400: "malformed-request", 404: "not-found", 405: "method-not-allowed",
                  413: "payload-too-large", 415: "unsupported-media-type"}


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    """The API; `clock` (tests) replaces the one the settings ask for (`service_clock`)."""
    api_clock = clock or service_clock(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # wait=False: the API starts (and answers 503) even while PostgreSQL is still down.
        pool = await open_pool(settings, wait=False)
        store = EventStore(pool)
        directory = TenantDirectory(store)
        # The query side's Redis: short timeouts and one quick retry (a pooled connection may
        # be stale after a Redis restart), so a dead Redis is a 503 at once, not a hang.
        read_redis = aioredis.Redis.from_url(
            settings.redis_dsn, socket_connect_timeout=1.0, socket_timeout=3.0,
            retry=Retry(NoBackoff(), 1), health_check_interval=30,
        )
        app.state.read_models = ReadModels(read_redis, Keys(settings.redis_prefix), store,
                                           clock=api_clock)
        app.state.services = Services(
            settings=settings,
            store=store,
            queues=QueueService(store, api_clock),
            directory=directory,
            authenticator=Authenticator(directory),
        )
        scheduler = AgingScheduler(store, app.state.services.queues,
                                   lambda: connect(settings),
                                   interval_s=settings.aging_interval_s)
        app.state.scheduler = scheduler
        stop_scheduler = asyncio.Event()
        scheduling = asyncio.create_task(scheduler.run(stop_scheduler))
        try:
            yield
        finally:
            stop_scheduler.set()
            await scheduling
            await read_redis.aclose()
            await pool.close()

    app = FastAPI(
        title="virtual-queue command API",
        version="1.0.0",
        description=(
            "Commands change queues: every success answers the queue's new `stream_version` and "
            "the ids of the events it appended. Every command accepts an `Idempotency-Key`. "
            "Errors are RFC 9457 problem details (`application/problem+json`) whose `type` is "
            "stable; see `GET /problems/{code}`."
        ),
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=64 * 1024)
    # A read-your-writes query may wait for the read model as long as it asked to (bounded).
    app.add_middleware(
        DeadlineMiddleware,
        seconds=REQUEST_DEADLINE_S,
        extra=queries_api.requested_wait,
        retry_after_s=RETRY_AFTER_S,
    )
    app.include_router(routes_queues.router)
    app.include_router(routes_tickets.router)
    app.include_router(routes_admin.router)
    app.include_router(queries_api.router)
    app.include_router(analytics_api.router)
    app.include_router(pages.router)
    _install_error_handlers(app)
    _install_meta_routes(app, api_clock)
    return app


def problem_response(exc: ProblemError, request: Request) -> JSONResponse:
    headers = dict(exc.headers)
    return JSONResponse(
        exc.body(instance=request.url.path),
        status_code=exc.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, exc: ProblemError) -> Response:
        return problem_response(exc, request)

    @app.exception_handler(Rejected)
    async def on_rejected(request: Request, exc: Rejected) -> Response:
        return problem_response(ProblemError(exc.code, exc.detail), request)

    @app.exception_handler(QueueBusy)
    async def on_busy(request: Request, exc: QueueBusy) -> Response:
        return problem_response(
            ProblemError("service-unavailable", str(exc), headers={"Retry-After": "1"}), request
        )

    @app.exception_handler(VersionConflict)
    async def on_conflict(request: Request, exc: VersionConflict) -> Response:
        return problem_response(ProblemError("version-conflict", str(exc)), request)

    @app.exception_handler(StoreUnavailable)
    async def on_unavailable(request: Request, exc: StoreUnavailable) -> Response:
        log.warning("503 for %s: %s", request.url.path, exc)
        return problem_response(
            ProblemError(
                "service-unavailable",
                "the event store is unavailable; nothing was changed, retry later",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ),
            request,
        )

    @app.exception_handler(ReadModelUnavailable)
    async def on_read_model_down(request: Request, exc: ReadModelUnavailable) -> Response:
        log.warning("503 for %s: Redis: %s", request.url.path, exc)
        return problem_response(
            ProblemError(
                "service-unavailable",
                "the read models (Redis) are unavailable; retry later",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ),
            request,
        )

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        if any(e["type"] == "json_invalid" for e in errors):
            return problem_response(
                ProblemError("malformed-request", "the body is not valid JSON", errors=errors),
                request,
            )
        return problem_response(
            ProblemError("validation", "the request does not match its schema", errors=errors),
            request,
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_PROBLEMS.get(exc.status_code, "validation")
        return problem_response(ProblemError(code, str(exc.detail)), request)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(ProblemError("internal", "an unexpected error; it was logged"),
                                request)


def _install_meta_routes(app: FastAPI, clock: Clock) -> None:
    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    speed = clock.speed if isinstance(clock, ScaledClock) else 1.0

    @app.get(
        "/v1/clock",
        response_model=ClockOut,
        tags=["operations"],
        summary="The API's time (accelerated when VQ_CLOCK_START or VQ_CLOCK_SPEED is set)",
    )
    async def clock_now() -> ClockOut:
        """Events are stamped with this time; a simulation driver aligns its own timeline to it."""
        return ClockOut(now=clock(), speed=speed)

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="PostgreSQL answers",
        responses=problem_responses("service-unavailable", common=()),
    )
    async def readyz(request: Request) -> dict[str, str]:
        services: Services = request.app.state.services
        await services.store.ping()
        return {"status": "ready"}

    @app.get("/problems/{code}", tags=["operations"], summary="What a problem type means",
             responses=problem_responses("not-found", "validation", common=()))
    async def problem_doc(code: str) -> dict[str, object]:
        if code not in PROBLEMS:
            raise ProblemError("not-found", f"no problem type {code}")
        status, title = PROBLEMS[code]
        return {"type": f"/problems/{code}", "status": status, "title": title}
