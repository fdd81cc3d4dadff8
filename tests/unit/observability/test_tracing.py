"""observability/tracing.py: nothing at all when off; when on (the SDK's in-memory exporter), one
trace from a request through the append, the relay's publish, the worker's batch and the push."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from core.settings import Settings
from observability import tracing

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.shutdown()


def _by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def _never_read() -> Iterator[list[tuple[str, bytes]]]:
    raise AssertionError("headers were read while tracing is off")
    yield []  # pragma: no cover


# -- off ----------------------------------------------------------------------------------------


def test_off_every_call_returns_at_once_and_makes_nothing() -> None:
    tracing.install(None)
    assert not tracing.enabled()
    assert tracing.span("x") is tracing.OFF
    assert tracing.request_span("GET", [(b"traceparent", CALLER.encode())]) is tracing.OFF
    assert tracing.consumed("apply", _never_read(), 3) is tracing.OFF
    assert tracing.pushed({"traceparent": CALLER, "version": 1}) is tracing.OFF
    assert tracing.traceparent() is None
    assert tracing.ids() is None
    message: dict[str, Any] = {"version": 1}
    assert tracing.stamped(message) is message
    assert message == {"version": 1}
    headers = [("ce_id", b"1")]
    assert tracing.UNTRACED.headers(7, headers) is headers
    with tracing.span("x") as nothing:
        assert nothing is None
    tracing.finish_request(None, "GET", "/x", 200)


async def test_off_the_async_form_and_the_publication_pass_through() -> None:
    tracing.install(None)
    async with tracing.span("append") as nothing:
        assert nothing is None

    async def acked() -> str:
        return "acked"

    assert await tracing.UNTRACED.published(acked()) == "acked"


def test_off_unless_an_endpoint_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tracing.configure_tracing("api", Settings(env="dev")) is False
    assert not tracing.enabled()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    configured = Settings(env="dev", otlp_endpoint="http://127.0.0.1:4318")
    assert tracing.configure_tracing("api", configured) is False
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    try:
        assert tracing.configure_tracing("relay", configured) is True
        assert tracing.enabled()
    finally:
        tracing.shutdown()
    assert not tracing.enabled()


def test_the_collector_url() -> None:
    assert tracing.traces_url("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/traces"
    assert tracing.traces_url("http://c:4318/") == "http://c:4318/v1/traces"
    assert tracing.traces_url("https://c/otlp/v1/traces") == "https://c/otlp/v1/traces"


# -- on -----------------------------------------------------------------------------------------


async def test_a_request_continues_its_callers_trace_and_the_append_is_its_child(
    spans: InMemorySpanExporter,
) -> None:
    with tracing.request_span("POST", [(b"traceparent", CALLER.encode())]) as request:
        assert request is not None
        async with tracing.span("vq.eventstore append") as append:
            assert append is not None
            kept = tracing.traceparent()
        tracing.finish_request(request, "POST", "/v1/queues/{queue_id}/tickets", 201)
    found = _by_name(spans)
    served = found["POST /v1/queues/{queue_id}/tickets"]
    appended = found["vq.eventstore append"]
    assert served.kind is SpanKind.SERVER
    assert f"{served.context.trace_id:032x}" == CALLER.split("-")[1]
    assert served.parent is not None and f"{served.parent.span_id:016x}" == CALLER.split("-")[2]
    assert served.attributes is not None
    assert served.attributes["http.route"] == "/v1/queues/{queue_id}/tickets"
    assert served.attributes["http.response.status_code"] == 201
    assert appended.parent is not None and appended.parent.span_id == served.context.span_id
    assert kept == f"00-{served.context.trace_id:032x}-{append.get_span_context().span_id:016x}-01"


def test_a_server_error_marks_the_request_failed(spans: InMemorySpanExporter) -> None:
    with tracing.request_span("GET", []) as request:
        tracing.finish_request(request, "GET", None, 503)
    [failed] = spans.get_finished_spans()
    assert failed.name == "GET"
    assert failed.parent is None
    assert failed.status.status_code is StatusCode.ERROR


def test_a_bad_traceparent_starts_a_new_trace(spans: InMemorySpanExporter) -> None:
    with tracing.request_span("GET", [(b"traceparent", b"00-zz-not-a-context")]):
        pass
    [root] = spans.get_finished_spans()
    assert root.parent is None


async def test_the_relay_publishes_each_append_under_a_span_of_its_own(
    spans: InMemorySpanExporter,
) -> None:
    other = "00-11111111111111111111111111111111-2222222222222222-01"
    publication = tracing.Publication({10: CALLER, 11: other}, "vq.queue-events")
    first = publication.headers(10, [("ce_id", b"a")])
    again = publication.headers(10, [("ce_id", b"b")])
    second = publication.headers(11, [("ce_id", b"c")])
    untraced = [("ce_id", b"d")]
    assert publication.headers(12, untraced) is untraced
    assert first[0] == ("ce_id", b"a") and first[1][0] == "ce_traceparent"
    assert again[1] == first[1]  # one span per append, however many events it has

    async def acked() -> None:
        return None

    await publication.published(acked())
    published = spans.get_finished_spans()
    assert len(published) == 2
    by_trace = {f"{s.context.trace_id:032x}": s for s in published}
    mine = by_trace[CALLER.split("-")[1]]
    assert mine.kind is SpanKind.PRODUCER
    assert mine.parent is not None and f"{mine.parent.span_id:016x}" == CALLER.split("-")[2]
    assert first[1][1].decode() == f"00-{mine.context.trace_id:032x}-{mine.context.span_id:016x}-01"
    assert other.split("-")[1] in by_trace
    assert second[1][1] != first[1][1]


async def test_a_failed_publish_ends_its_spans_as_failures(spans: InMemorySpanExporter) -> None:
    publication = tracing.Publication({10: CALLER}, "topic")
    publication.headers(10, [])

    async def refused() -> None:
        raise TimeoutError("no ack")

    with pytest.raises(TimeoutError):
        await publication.published(refused())
    [failed] = spans.get_finished_spans()
    assert failed.status.status_code is StatusCode.ERROR


def test_a_batch_continues_its_first_trace_and_links_the_others(
    spans: InMemorySpanExporter,
) -> None:
    other = "00-11111111111111111111111111111111-2222222222222222-01"
    received: list[Any] = [
        None,  # a record without headers
        [("ce_id", b"1")],  # published before tracing was on: no context
        [("ce_id", b"2"), ("ce_traceparent", CALLER.encode())],
        {"ce_traceparent": CALLER.encode()},  # Faust may give a dict
        [("ce_traceparent", other.encode())],
    ]
    with tracing.consumed("vq.worker apply", iter(received), 5):
        message = tracing.stamped({"version": 3})
    [applied] = spans.get_finished_spans()
    assert applied.kind is SpanKind.CONSUMER
    assert f"{applied.context.trace_id:032x}" == CALLER.split("-")[1]
    assert applied.parent is not None and f"{applied.parent.span_id:016x}" == CALLER.split("-")[2]
    assert [f"{link.context.trace_id:032x}" for link in applied.links] == [other.split("-")[1]]
    assert applied.attributes is not None
    assert applied.attributes["messaging.batch.message_count"] == 5
    assert message["traceparent"].split("-")[2] == f"{applied.context.span_id:016x}"


async def test_a_push_is_a_child_of_its_batch_once_per_process(
    spans: InMemorySpanExporter,
) -> None:
    message = {"version": 4, "traceparent": CALLER}

    async def follower() -> None:
        with tracing.pushed(message):
            await asyncio.sleep(0)

    await asyncio.gather(follower(), follower(), follower())
    [pushed] = spans.get_finished_spans()
    assert pushed.name == "vq.live push"
    assert pushed.parent is not None and f"{pushed.parent.span_id:016x}" == CALLER.split("-")[2]
    assert pushed.attributes is not None and pushed.attributes["vq.stream_version"] == 4
    assert tracing.pushed({"version": 5}) is tracing.OFF  # the batch was not traced


def test_an_unsampled_trace_is_not_kept_for_the_relay(spans: InMemorySpanExporter) -> None:
    unsampled = CALLER[:-2] + "00"
    with tracing.request_span("POST", [(b"traceparent", unsampled.encode())]):
        assert tracing.traceparent() is None  # nothing to store: nobody will see this trace
        assert tracing.ids() is not None  # the log lines still name it
    assert spans.get_finished_spans() == ()
