"""HTTP metrics are labelled by route template, never by path: an id in a path would make a
series per queue and ticket. Live streams are counted when they start, without a latency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, WebSocket
from fastapi.responses import PlainTextResponse, StreamingResponse
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from observability.http_metrics import UNMATCHED, HttpMetrics


class Refusing:
    """Answers 429 to `.../limited/...` before the router sees the request (as the rate limiter
    does)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "/limited/" in scope["path"]:
            await PlainTextResponse("slow down", status_code=429)(scope, receive, send)
            return
        await self.app(scope, receive, send)


@pytest.fixture
def measured() -> tuple[FastAPI, CollectorRegistry]:
    registry = CollectorRegistry()
    requests = Counter("t_http_requests", "", ["route", "method", "status"], registry=registry)
    durations = Histogram("t_http_duration_seconds", "", ["route", "method"], registry=registry)
    app = FastAPI()

    @app.get("/v1/queues/{queue_id}")
    async def queue(queue_id: str) -> dict[str, str]:
        return {"queue_id": queue_id}

    @app.post("/v1/queues/{queue_id}/tickets", status_code=201)
    async def enqueue(queue_id: str) -> dict[str, str]:
        return {"queue_id": queue_id}

    tickets = APIRouter(prefix="/v1/tickets")

    @tickets.post("/{ticket_id}/complete")
    async def complete(ticket_id: str) -> dict[str, str]:
        return {"ticket_id": ticket_id}

    app.include_router(tickets)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    @app.get("/v1/queues/{queue_id}/events")
    async def events(queue_id: str) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            yield "event: queue\ndata: {}\n\n"
            await asyncio.sleep(0.3)

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.websocket("/v1/queues/{queue_id}/ws")
    async def socket(websocket: WebSocket, queue_id: str) -> None:
        if queue_id == "refused":
            await websocket.close(code=1008)
            return
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    app.add_middleware(Refusing)
    app.add_middleware(
        HttpMetrics, routes=app.router.routes, requests=requests, durations=durations
    )
    return app, registry


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def drive(app: FastAPI, scope: dict[str, Any], incoming: list[Message]) -> list[Message]:
    """Run one ASGI connection by hand; returns what the app sent."""
    sent: list[Message] = []

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)  # nothing more from this client
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    base = {"headers": [], "query_string": b"", "root_path": "", "scheme": "http"}
    await asyncio.wait_for(app({**base, **scope}, receive, send), 5)
    return sent


def count(registry: CollectorRegistry, route: str, method: str, status: int) -> float:
    labels = {"route": route, "method": method, "status": str(status)}
    return registry.get_sample_value("t_http_requests_total", labels) or 0.0


def observed(registry: CollectorRegistry, route: str, method: str) -> float:
    labels = {"route": route, "method": method}
    return registry.get_sample_value("t_http_duration_seconds_count", labels) or 0.0


async def test_a_route_is_labelled_by_its_template_not_its_path(
    measured: tuple[FastAPI, CollectorRegistry],
) -> None:
    app, registry = measured
    async with client(app) as http:
        for queue_id in ("a1", "b2", "c3"):
            assert (await http.get(f"/v1/queues/{queue_id}")).status_code == 200
        assert (await http.post("/v1/queues/a1/tickets")).status_code == 201
        assert (await http.post("/v1/tickets/t9/complete")).status_code == 200
    assert count(registry, "/v1/queues/{queue_id}", "GET", 200) == 3
    assert observed(registry, "/v1/queues/{queue_id}", "GET") == 3
    assert count(registry, "/v1/queues/{queue_id}/tickets", "POST", 201) == 1
    assert count(registry, "/v1/tickets/{ticket_id}/complete", "POST", 200) == 1  # included
    exposed = [s.labels for m in registry.collect() for s in m.samples]
    assert not any("a1" in str(labels) for labels in exposed)


async def test_unknown_paths_share_one_label_and_odd_methods_another(
    measured: tuple[FastAPI, CollectorRegistry],
) -> None:
    app, registry = measured
    async with client(app) as http:
        for path in ("/nothing", "/v1/nothing/here", "/wp-admin.php?x=1"):
            assert (await http.get(path)).status_code == 404
        assert (await http.request("BREW", "/v1/queues/a1")).status_code == 405
        assert (await http.delete("/v1/queues/a1")).status_code == 405
    assert count(registry, UNMATCHED, "GET", 404) == 3
    assert count(registry, "/v1/queues/{queue_id}", "OTHER", 405) == 1
    assert count(registry, "/v1/queues/{queue_id}", "DELETE", 405) == 1


async def test_an_answer_given_before_routing_is_labelled_with_the_route_it_would_reach(
    measured: tuple[FastAPI, CollectorRegistry],
) -> None:
    app, registry = measured
    async with client(app) as http:
        assert (await http.get("/v1/queues/limited/events")).status_code == 429
        assert (await http.post("/v1/tickets/limited/complete")).status_code == 429
    assert count(registry, "/v1/queues/{queue_id}/events", "GET", 429) == 1
    assert count(registry, "/v1/tickets/{ticket_id}/complete", "POST", 429) == 1


async def test_a_crash_counts_as_a_500(measured: tuple[FastAPI, CollectorRegistry]) -> None:
    app, registry = measured
    async with client(app) as http:
        assert (await http.get("/boom")).status_code == 500
    assert count(registry, "/boom", "GET", 500) == 1
    assert observed(registry, "/boom", "GET") == 1


async def test_an_event_stream_is_counted_when_it_starts_and_never_timed(
    measured: tuple[FastAPI, CollectorRegistry],
) -> None:
    app, registry = measured
    route = "/v1/queues/{queue_id}/events"
    scope = {"type": "http", "method": "GET", "path": "/v1/queues/a1/events", "http_version": "1.1"}
    running = asyncio.create_task(drive(app, scope, [{"type": "http.request", "body": b""}]))
    for _ in range(200):  # the first event is out; the stream stays open 0.3 s more
        if count(registry, route, "GET", 200):
            break
        await asyncio.sleep(0.005)
    assert count(registry, route, "GET", 200) == 1, "not counted while the stream was open"
    assert not running.done()
    sent = await running
    assert sent[0]["type"] == "http.response.start"
    assert count(registry, route, "GET", 200) == 1  # not counted again at its end
    assert observed(registry, route, "GET") == 0


async def test_websockets_are_counted_when_accepted_or_refused(
    measured: tuple[FastAPI, CollectorRegistry],
) -> None:
    app, registry = measured
    route = "/v1/queues/{queue_id}/ws"
    for queue_id in ("a1", "refused"):
        scope = {"type": "websocket", "path": f"/v1/queues/{queue_id}/ws", "subprotocols": []}
        await drive(app, scope, [{"type": "websocket.connect"}])
    assert count(registry, route, "WEBSOCKET", 101) == 1
    assert count(registry, route, "WEBSOCKET", 403) == 1
    assert observed(registry, route, "WEBSOCKET") == 0
