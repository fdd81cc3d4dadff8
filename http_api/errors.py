"""Every error a request can meet, answered as an RFC 9457 problem (application/problem+json)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import Unavailable
from domain.errors import Rejected
from http_api.problems import PROBLEM_MEDIA_TYPE, ProblemError, rejection_problem
from projections.unavailable import ReadModelUnavailable, cannot_serve
from service_layer.errors import IdempotencyKeyReused, NotAssigned, VersionConflict

log = logging.getLogger("vq.api")

# Starlette's and FastAPI's own HTTP errors, as problem types (FastAPI gives a 400 when a body
# cannot be read or parsed).
_HTTP_PROBLEMS = {
    400: "malformed-request",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
}


def problem_response(exc: ProblemError, request: Request) -> JSONResponse:
    return JSONResponse(
        exc.body(instance=request.url.path),
        status_code=exc.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(exc.headers),
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, exc: ProblemError) -> Response:
        return problem_response(exc, request)

    @app.exception_handler(Rejected)
    async def on_rejected(request: Request, exc: Rejected) -> Response:
        return problem_response(rejection_problem(exc), request)

    @app.exception_handler(VersionConflict)
    async def on_conflict(request: Request, exc: VersionConflict) -> Response:
        return problem_response(ProblemError("version-conflict", str(exc)), request)

    @app.exception_handler(NotAssigned)
    async def on_not_assigned(request: Request, exc: NotAssigned) -> Response:
        return problem_response(ProblemError("forbidden", str(exc)), request)

    @app.exception_handler(IdempotencyKeyReused)
    async def on_key_reused(request: Request, exc: IdempotencyKeyReused) -> Response:
        return problem_response(ProblemError("idempotency-key-reused", str(exc)), request)

    @app.exception_handler(Unavailable)
    async def on_unavailable(request: Request, exc: Unavailable) -> Response:
        """One answer for every dependency that cannot answer now: 503, Retry-After."""
        log.warning("503 for %s: %s: %s", request.url.path, type(exc).__name__, exc)
        return problem_response(
            ProblemError(
                "service-unavailable", exc.detail(), headers={"Retry-After": str(exc.retry_after_s)}
            ),
            request,
        )

    @app.exception_handler(RedisError)
    async def on_redis(request: Request, exc: RedisError) -> Response:
        """A Redis that is down, full or busy, met where no code turned it into its 503 already
        (`projections.unavailable.redis_errors`): the same 503. Any other Redis error is ours: a
        500 with its traceback in the log."""
        if not cannot_serve(exc):
            raise exc
        return await on_unavailable(request, ReadModelUnavailable(f"{type(exc).__name__}: {exc}"))

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
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # RFC 9110: a 405 lists what the resource does allow
            headers["Allow"] = ", ".join(allowed_methods(app, request))
        return problem_response(ProblemError(code, str(exc.detail), headers=headers), request)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(
            ProblemError("internal", "an unexpected error; it was logged"), request
        )


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """The methods of every route whose path matches the request's (one path may have several
    routes, one per method)."""
    methods: set[str] = set()
    path = request.scope.get("path", "")
    for route in _every_route(app.router.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


def _every_route(routes: Iterable[Any]) -> Iterator[Any]:
    """The routes of the app and of the routers it includes (FastAPI keeps an included router's
    routes behind it, in its effective route contexts)."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):
            yield from _every_route(contexts())
        else:
            yield route
