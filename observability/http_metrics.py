"""HTTP requests by route template, method and status, with their latency: a pure ASGI
middleware, outermost but for the crash handler, that only looks at the status line.

Labels are the route's template (`/v1/queues/{queue_id}/tickets`), never the path: ids would
make a series per queue and ticket. A request no route matched is `unmatched`; a method nobody
serves is `OTHER`. Live streams (SSE, WebSocket) are counted when they start (the status they
start with; a WebSocket accepted is 101) and their duration is not a latency: it is how long
someone watched.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from observability.metrics import HTTP_DURATION, HTTP_REQUESTS

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
WEBSOCKET = "WEBSOCKET"
_EVENT_STREAM = b"text/event-stream"


def route_template(scope: Scope, routes: Sequence[BaseRoute] = ()) -> str:
    """The template of the route that served the request (the router sets it as it matches).
    An answer given before routing (a rate limit's 429, a body too large) is labelled with the
    route among `routes` that would have served it."""
    route = scope.get("route")
    if route is None:
        route = next((r for r in _leaves(routes) if r.matches(scope)[0] != Match.NONE), None)
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    return f"{path}/{{path:path}}" if isinstance(route, Mount) else path


def _leaves(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """The routes themselves, those of included routers too (FastAPI keeps them nested)."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from _leaves(nested.routes)
        else:
            yield route


def _method(scope: Scope) -> str:
    method = scope.get("method", "")
    return method if method in METHODS else "OTHER"


def _streams(message: Message) -> bool:
    for name, value in message.get("headers", ()):
        if name.lower() == b"content-type":
            return bool(value.startswith(_EVENT_STREAM))
    return False


class HttpMetrics:
    def __init__(
        self,
        app: ASGIApp,
        routes: Sequence[BaseRoute] = (),
        requests: Counter = HTTP_REQUESTS,
        durations: Histogram = HTTP_DURATION,
    ) -> None:
        """`routes`: the app's (`app.routes`), to label answers given before routing."""
        self.app = app
        self._routes = routes
        self._requests = requests
        self._durations = durations
        # The labelled children, found once: a request costs a dict lookup, not a lock and a
        # label check. Bounded: routes x methods x statuses.
        self._counts: dict[tuple[str, str, int], Any] = {}
        self._latencies: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 0  # no answer yet
        streaming = False

        async def sending(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                if _streams(message):
                    streaming = True
                    self._count(scope, _method(scope), status)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            status = status or 500  # the crash handler outside answers 500
            raise
        finally:
            # A client that went away before any answer (cancelled) is not a request answered.
            if status and not streaming:
                method = _method(scope)
                self._count(scope, method, status)
                self._latency(scope, method).observe(time.perf_counter() - started)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        counted = False

        async def sending(message: Message) -> None:
            nonlocal counted
            if not counted:
                kind = message["type"]
                if kind == "websocket.accept":
                    counted = True
                    self._count(scope, WEBSOCKET, 101)
                elif kind == "websocket.http.response.start":
                    counted = True
                    self._count(scope, WEBSOCKET, message["status"])
                elif kind == "websocket.close":  # refused before the handshake: a 403
                    counted = True
                    self._count(scope, WEBSOCKET, 403)
            await send(message)

        await self.app(scope, receive, sending)

    def _count(self, scope: Scope, method: str, status: int) -> None:
        key = (route_template(scope, self._routes), method, status)
        child = self._counts.get(key)
        if child is None:
            child = self._counts[key] = self._requests.labels(key[0], method, str(status))
        child.inc()

    def _latency(self, scope: Scope, method: str) -> Any:
        key = (route_template(scope, self._routes), method)
        child = self._latencies.get(key)
        if child is None:
            child = self._latencies[key] = self._durations.labels(*key)
        return child
