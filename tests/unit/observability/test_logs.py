"""observability/logs.py: one JSON object per line with the request's or batch's context, the
trace when tracing is on, nothing secret; the request line of the API's middleware."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.settings import Settings
from observability import logs, tracing


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What the root logger writes, as the API's JSON lines, at DEBUG."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter("api"))
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        tracing.install(None)


def _parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_context(lines: io.StringIO) -> None:
    log = logging.getLogger("vq.test")
    with logs.context(tenant="t1", queue="q1"):
        logs.bind(command_id="c1")
        log.info("applied %d events", 3, extra={"events": 3})
    logs.bind(command_id="stale")  # outside a context: nothing, nowhere
    log.warning("after")
    first, after = _parsed(lines)
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert {k: first[k] for k in ("level", "process", "logger", "message")} == {
        "level": "INFO",
        "process": "api",
        "logger": "vq.test",
        "message": "applied 3 events",
    }
    assert (first["tenant"], first["queue"], first["command_id"], first["events"]) == (
        "t1",
        "q1",
        "c1",
        3,
    )
    assert isinstance(first["pid"], int)
    assert "trace_id" not in first  # tracing is off
    assert "tenant" not in after and "command_id" not in after
    assert logs.current() == {}


def test_an_exception_is_one_line_too(lines: io.StringIO) -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        logging.getLogger("vq.test").exception("failed")
    [line] = _parsed(lines)
    assert line["level"] == "ERROR"
    assert "ValueError: bad" in line["exception"]
    assert len(lines.getvalue().splitlines()) == 1


def test_secrets_are_masked_in_messages_and_tracebacks(lines: io.StringIO) -> None:
    log = logging.getLogger("vq.test")
    log.warning("relay paused: postgresql://vq:s3cret@db:5432/vq unreachable")
    log.warning("refused Authorization: Bearer abc.DEF-123_x")
    try:
        raise ConnectionError("redis://:hunter2@cache:6379/0 refused")
    except ConnectionError:
        log.exception("lost Redis")
    text = lines.getvalue()
    for secret in ("s3cret", "abc.DEF-123_x", "hunter2"):
        assert secret not in text
    url, bearer, lost = _parsed(lines)
    assert url["message"] == "relay paused: postgresql://vq:***@db:5432/vq unreachable"
    assert bearer["message"] == "refused Authorization: Bearer ***"
    assert "redis://:***@cache:6379/0" in lost["exception"]
    assert logs.scrub("http://example.com/path?a=b") == "http://example.com/path?a=b"


def test_the_trace_is_named_when_tracing_is_on(lines: io.StringIO) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    with tracing.span("work") as span:
        assert span is not None
        logging.getLogger("vq.test").info("inside")
    [line] = _parsed(lines)
    context = span.get_span_context()
    assert line["trace_id"] == f"{context.trace_id:032x}"
    assert line["span_id"] == f"{context.span_id:016x}"


def test_json_for_services_text_for_tools_unless_configured(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure_logging("worker", Settings(env="dev"), level="warning")
        assert root.level == logging.WARNING
        logging.getLogger("vq.test").warning("as json")
        logs.configure_logging("db", Settings(env="dev"))
        assert root.level == logging.INFO
        logging.getLogger("vq.test").info("as text")
        logs.configure_logging("relay", Settings(env="dev", log_format="text", log_level="error"))
        assert root.level == logging.ERROR
        logging.getLogger("uvicorn.error").handlers.append(logging.NullHandler())
        logs.configure_logging("api", Settings(env="dev", log_format="json"))
        assert logging.getLogger("uvicorn.error").handlers == []
        assert logging.getLogger("uvicorn.error").propagate
        assert len(root.handlers) == 1
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    json_line, text_line = capsys.readouterr().err.splitlines()
    assert json.loads(json_line)["process"] == "worker"
    assert text_line.endswith(" vq.test as text") and not text_line.startswith("{")


# -- the API's request lines --------------------------------------------------------------------


async def _command(request: Request) -> JSONResponse:
    logs.bind(tenant="t1", command_id="c9")  # as the event store does when it appends
    return JSONResponse({"ok": True}, status_code=201)


async def _read(request: Request) -> JSONResponse:
    return JSONResponse({})


async def _broken(request: Request) -> JSONResponse:
    raise RuntimeError("boom")


def _app() -> logs.RequestLog:
    routes = [
        Route("/v1/queues/{queue_id}/tickets", _command, methods=["POST"]),
        Route("/v1/queues/{queue_id}", _read),
        Route("/broken", _broken),
    ]
    return logs.RequestLog(Starlette(routes=routes))


async def test_a_command_is_a_line_naming_its_route_status_and_command(lines: io.StringIO) -> None:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.post("/v1/queues/q-7/tickets?secret=x")).status_code == 201
        logging.getLogger("vq.http").setLevel(logging.INFO)
        try:
            assert (await http.get("/v1/queues/q-7")).status_code == 200  # a read: DEBUG
            assert (await http.get("/broken")).status_code == 500
            assert (await http.get("/nowhere")).status_code == 404
        finally:
            logging.getLogger("vq.http").setLevel(logging.NOTSET)
    command, broken = [line for line in _parsed(lines) if line["logger"] == "vq.http"]
    assert command["message"] == "POST /v1/queues/{queue_id}/tickets 201"
    assert command["level"] == "INFO"
    assert (command["route"], command["status"], command["method"]) == (
        "/v1/queues/{queue_id}/tickets",
        201,
        "POST",
    )
    assert (command["tenant"], command["queue"], command["command_id"]) == ("t1", "q-7", "c9")
    assert command["duration_ms"] >= 0
    assert "secret" not in json.dumps(command)
    assert (broken["level"], broken["status"]) == ("WARNING", 500)


async def test_a_request_line_names_the_request_span(lines: io.StringIO) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        await http.post("/v1/queues/q-7/tickets")
    [span] = exporter.get_finished_spans()
    [line] = [line for line in _parsed(lines) if line["logger"] == "vq.http"]
    assert span.name == "POST /v1/queues/{queue_id}/tickets"
    assert line["trace_id"] == f"{span.context.trace_id:032x}"
    assert line["span_id"] == f"{span.context.span_id:016x}"


def test_a_library_saying_the_same_thing_over_and_over_is_counted_not_written(
    lines: io.StringIO,
) -> None:
    now = [0.0]
    handler = logging.getLogger().handlers[0]
    handler.addFilter(logs.Repeats(window=10.0, clock=lambda: now[0]))
    kafka, ours = logging.getLogger("aiokafka.conn"), logging.getLogger("vq.worker-test")
    for _ in range(1200):  # a Kafka outage: every refused connection, for 11 s
        kafka.error("Unable connect to node with id %s: %s", 1, "refused")
        ours.warning("batch not applied; trying again")
        now[0] += 11.0 / 1200
    now[0] = 21.0  # the next one after the second window: the count of the rest
    kafka.error("Unable connect to node with id %s: %s", 1, "refused")
    kafka.error("Unable to update metadata from %s", [1])  # another line: written at once
    written = _parsed(lines)
    kafka_lines = [line for line in written if line["logger"] == "aiokafka.conn"]
    assert [line["message"] for line in kafka_lines] == [
        "Unable connect to node with id 1: refused",
        "Unable connect to node with id 1: refused (1090 more like this in the 10 s before)",
        "Unable connect to node with id 1: refused (108 more like this in the 11 s before)",
        "Unable to update metadata from [1]",
    ]
    assert kafka_lines[1]["repeated"] == 1090
    # Our own lines are never held back.
    assert sum(1 for line in written if line["logger"] == "vq.worker-test") == 1200


async def test_a_client_that_left_before_any_answer_is_logged_499_not_500(
    lines: io.StringIO,
) -> None:
    """A client gone before the answer (closed, or a broken request the server refused and
    answered itself: a bad chunk) is not the API's error."""

    async def body_never_came(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "http.disconnect"
        raise ClientDisconnect()  # what reading the body raises then

    async def gone() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def nothing_to_send(message: Any) -> None:
        raise AssertionError(f"nobody to send {message['type']} to")

    scope = {"type": "http", "method": "POST", "path": "/v1/queues/q-7/tickets", "headers": []}
    with pytest.raises(ClientDisconnect):
        await logs.RequestLog(body_never_came)(scope, gone, nothing_to_send)
    [line] = [line for line in _parsed(lines) if line["logger"] == "vq.http"]
    assert (line["status"], line["level"]) == (logs.CLIENT_GONE, "INFO")
