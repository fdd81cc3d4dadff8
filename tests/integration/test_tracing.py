"""One enqueue, followed across processes: its trace (acceptance 3 of issue 13) and its log lines.

The real API, relay and stream worker run as `vq` processes with VQ_OTLP_ENDPOINT pointing at an
OTLP/HTTP receiver on loopback that decodes what they export (`opentelemetry-proto`). One trace
holds the request, the append, the relay's publish, the worker's batch and the live push to the
follower that was open, each the child of the one before; and the API's JSON request line and the
worker's JSON batch line name the same command and the same trace.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from tests.integration.servers import api_processes, settings_env

WITHIN_S = 15.0
STARTUP_WAIT_S = 30  # a stream worker that just started takes seconds to join its group


@dataclass(frozen=True)
class Received:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root span
    links: tuple[str, ...]  # trace ids


class OtlpReceiver:
    """An OTLP/HTTP collector of one endpoint, POST /v1/traces (protobuf), keeping every span."""

    def __init__(self) -> None:
        self.spans: list[Received] = []
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the exporters' only verb
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                receiver.take(body)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._lock = threading.Lock()

    def take(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self._lock:
            self.requests += 1
            for resource in request.resource_spans:
                attributes = {a.key: a.value.string_value for a in resource.resource.attributes}
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        self.spans.append(
                            Received(
                                service=attributes.get("service.name", ""),
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_id=span.parent_span_id.hex(),
                                links=tuple(link.trace_id.hex() for link in span.links),
                            )
                        )

    def of_trace(self, trace_id: str) -> list[Received]:
        with self._lock:
            return [span for span in self.spans if span.trace_id == trace_id]

    @contextmanager
    def running(self) -> Iterator[OtlpReceiver]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()


@contextmanager
def vq_process(settings: Settings, *args: str) -> Iterator[IO[bytes]]:
    """A `vq` subprocess whose stderr goes to a file (read while it runs), stopped at the end."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vq.cli", *args],
            env=settings_env(settings),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            yield log
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def json_lines(log: IO[bytes]) -> list[dict[str, Any]]:
    """Every line the process wrote, each a JSON object (anything else fails the test)."""
    log.seek(0)
    text = log.read().decode(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def sse_ids(response: httpx.Response) -> AsyncIterator[str]:
    """The `id` of each Server-Sent Event (a view's stream version)."""
    async for line in response.aiter_lines():
        if line.startswith("id:"):
            yield line.removeprefix("id:").strip()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver().running() as running:
        yield running


async def test_one_enqueue_is_one_trace_across_the_processes_and_its_logs_meet(
    settings: Settings,
    topics: list[str],
    store: PostgresEventStore,
    tenant_id: str,
    receiver: OtlpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # export within 0.1 s, not 5 s
    traced = settings.model_copy(update={"otlp_endpoint": receiver.url, "log_format": "json"})
    key = (await TenantDirectory(store).create_key(tenant_id, "admin", "admin")).secret
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    with (
        api_processes(traced, [1]) as [api],
        vq_process(traced, "relay") as relay_log,
        vq_process(traced, "worker", "--loglevel", "info") as worker_log,
    ):
        async with httpx.AsyncClient(
            base_url=api.url,
            timeout=STARTUP_WAIT_S + 15,
            headers={"Authorization": f"Bearer {key}"},
        ) as http:
            made = await http.post("/v1/queues", json={"name": "Desk", "counters": ["1"]})
            queue_id, created = made.json()["queue_id"], made.json()["stream_version"]
            stream = f"/v1/queues/{queue_id}/events"
            params = {"min_version": created, "wait": STARTUP_WAIT_S}
            async with http.stream("GET", stream, params=params) as response:
                events = sse_ids(response)
                assert await anext(events) == str(created)  # the worker is up
                async with asyncio.timeout(WITHIN_S):
                    answer = await http.post(
                        f"/v1/queues/{queue_id}/tickets",
                        json={},
                        headers={"traceparent": f"00-{trace_id}-{caller_span}-01"},
                    )
                    assert answer.status_code == 201, answer.text
                    version = answer.json()["stream_version"]
                    assert await anext(events) == str(version)  # pushed
        spans = await _whole_trace(receiver, trace_id)
        _assert_one_chain(spans, caller_span)
        async with store.connection() as conn:
            kept = await (await conn.execute("SELECT traceparent FROM event_traces")).fetchall()
        # The queue's creation was published before: forgotten. The enqueue's is the last kept.
        assert kept == [(f"00-{trace_id}-{spans['append'].span_id}-01",)]
        [enqueued] = await store.read_stream(queue_id, version - 1)
        _assert_the_logs_meet(
            json_lines(api.log),
            await _worker_line(worker_log, enqueued.command_id),
            enqueued.command_id,
            trace_id,
            queue_id,
        )
        for log in (api.log, relay_log, worker_log):
            log.seek(0)
            assert key not in log.read().decode(errors="replace")
        assert all(line["process"] == "relay" for line in json_lines(relay_log))


EXPECTED = {
    "request": ("vq-api", "POST /v1/queues/{queue_id}/tickets"),
    "append": ("vq-api", "vq.eventstore append"),
    "publish": ("vq-relay", "vq.relay publish"),
    "apply": ("vq-worker", "vq.worker apply"),
    "push": ("vq-api", "vq.live push"),
}


async def _whole_trace(receiver: OtlpReceiver, trace_id: str) -> dict[str, Received]:
    """The trace's spans by role, once every one has arrived."""
    deadline = time.monotonic() + WITHIN_S
    while True:
        found = {
            role: span
            for role, (service, name) in EXPECTED.items()
            for span in receiver.of_trace(trace_id)
            if (span.service, span.name) == (service, name)
        }
        if len(found) == len(EXPECTED):
            return found
        if time.monotonic() > deadline:
            names = sorted((s.service, s.name) for s in receiver.spans)
            raise AssertionError(f"trace {trace_id} has only {sorted(found)}; received {names}")
        await asyncio.sleep(0.1)


def _assert_one_chain(spans: dict[str, Received], caller_span: str) -> None:
    """request <- append <- publish <- apply <- push, the request a child of the caller's."""
    assert spans["request"].parent_id == caller_span
    for child, parent in (
        ("append", "request"),
        ("publish", "append"),
        ("apply", "publish"),
        ("push", "apply"),
    ):
        assert spans[child].parent_id == spans[parent].span_id, (child, spans)


async def _worker_line(log: IO[bytes], command_id: str) -> dict[str, Any]:
    """The worker's line for the batch that applied the command (it may come a moment later)."""
    deadline = time.monotonic() + WITHIN_S
    while True:
        for line in json_lines(log):
            if line.get("logger") == "vq.streams" and command_id in line.get("commands", []):
                return line
        assert time.monotonic() < deadline, "the worker logged no batch with the command"
        await asyncio.sleep(0.1)


def _assert_the_logs_meet(
    api_lines: list[dict[str, Any]],
    worker: dict[str, Any],
    command_id: str,
    trace_id: str,
    queue_id: str,
) -> None:
    # uvicorn's own access lines stay off (they would show paths with their query strings).
    assert not [line for line in api_lines if line["logger"] == "uvicorn.access"]
    [request] = [
        line
        for line in api_lines
        if line.get("logger") == "vq.http" and line.get("command_id") == command_id
    ]
    assert request["message"] == "POST /v1/queues/{queue_id}/tickets 201"
    assert (request["process"], request["level"], request["status"]) == ("api", "INFO", 201)
    assert (request["queue"], request["trace_id"]) == (queue_id, trace_id)
    assert request["tenant"] and request["time"].endswith("Z")
    # The same command and the same trace, in the other process's log.
    assert (worker["process"], worker["command_id"], worker["trace_id"]) == (
        "worker",
        command_id,
        trace_id,
    )
    assert (worker["tenant"], worker["queue"]) == (request["tenant"], queue_id)
