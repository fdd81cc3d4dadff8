"""Distributed traces (OpenTelemetry, exported over OTLP/HTTP), off unless `VQ_OTLP_ENDPOINT` is
set.

One trace follows a command through every process it touches:

    vq-api     HTTP request span (observability/logs.py `RequestLog`)
                 event store append span (eventstore/postgres.py); its context is kept with the
                 append's transaction (table event_traces, migration 0015)
    vq-relay   publish span, one per append, child of the append span; its context travels with
                 each of the append's events as the CloudEvents `traceparent` extension (Kafka
                 binary mode: the `ce_traceparent` header)
    vq-worker  apply span, one per batch: child of its first traced event's publish span, linked
                 to the others'; the batch's pub/sub message carries its context (`traceparent`)
    vq-api     push span: a live follower sends that batch's view (query_api/live_stream.py)

Off, every function here returns at its first line (a shared no-op context manager, None, its
argument unchanged): no span object is made on a hot path. On, the SDK's own OTEL_* variables
apply (sampler, batch processor delays, exporter headers and timeout).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from core.settings import Settings

# What each `vq` process is called in a trace (the resource's service.name).
SERVICES = {"api": "vq-api", "relay": "vq-relay", "worker": "vq-worker", "notifier": "vq-notifier"}
# The CloudEvents distributed tracing extension's attribute, as a Kafka header in binary mode.
HEADER = "ce_traceparent"
# Key of the trace context in a batch's pub/sub message (projections/projector.py).
MESSAGE_KEY = "traceparent"
# A batch's apply span links at most this many other traces (the SDK keeps 128 at most).
MAX_LINKS = 32
# A batch's view reaches every follower of the queue: one push span per batch and process (the
# first follower's), or a queue followed by thousands would make thousands of spans per batch.
PUSHES_REMEMBERED = 1024

Headers = list[tuple[str, bytes]]
ReceivedHeaders = Iterable[tuple[str, bytes | None]] | Mapping[str, bytes | None]
T = TypeVar("T")


class Provider(Protocol):
    """What this module needs of a TracerProvider (the SDK's, or a test's)."""

    def get_tracer(self, instrumenting_module_name: str) -> Tracer: ...

    def shutdown(self) -> None: ...


_tracer: Tracer | None = None
_provider: Provider | None = None
_propagator = TraceContextTextMapPropagator()
_pushed: dict[str, None] = {}  # the batches pushed lately, oldest first


def configure_tracing(process: str, settings: Settings) -> bool:
    """Export this process's spans to `settings.otlp_endpoint` (nothing when unset, or when
    OTEL_SDK_DISABLED=true); returns whether tracing is on."""
    if not settings.otlp_endpoint or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        install(None)
        return False
    # Imported here: a process that does not trace never loads the SDK and the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME, when the operator set it, names the service instead.
    named = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICES[process]}
    provider = TracerProvider(resource=Resource.create(named))
    exporter = OTLPSpanExporter(endpoint=traces_url(settings.otlp_endpoint))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)
    return True


def traces_url(endpoint: str) -> str:
    """The collector's traces URL: OTLP/HTTP's `/v1/traces` under a base such as :4318."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def install(provider: Provider | None) -> None:
    """Trace with `provider` from now on (None: stop tracing). The unit tests' in-memory
    exporter comes in here; `configure_tracing` is the way in for the processes."""
    global _tracer, _provider
    _tracer = None if provider is None else provider.get_tracer("vq")
    _provider = provider
    _pushed.clear()


def shutdown() -> None:
    """Export what is still buffered and stop (also done at exit by the SDK)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer, _provider = None, None


def enabled() -> bool:
    return _tracer is not None


# -- the current span ---------------------------------------------------------------------------


class _Off:
    """The context manager of every span when tracing is off: one shared object, no work."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


OFF = _Off()


class _Current:
    """A span that is the current one while its block runs (`with` or `async with`)."""

    __slots__ = ("_manager",)

    def __init__(self, manager: AbstractContextManager[Span]) -> None:
        self._manager = manager

    def __enter__(self) -> Span:
        return self._manager.__enter__()

    def __exit__(self, *exc: Any) -> bool | None:
        return self._manager.__exit__(*exc)

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(self, *exc: Any) -> bool | None:
        return self.__exit__(*exc)


class _Ended:
    """A span that is not made current (its block may yield to the event loop, or to a
    generator's consumer), ended when the block ends, however it ends."""

    __slots__ = ("_span",)

    def __init__(self, span: Span) -> None:
        self._span = span

    def __enter__(self) -> Span:
        return self._span

    def __exit__(self, *exc: object) -> None:
        self._span.end()


def span(name: str, **attributes: str | int | float | bool) -> _Off | _Current:
    """A child of the current span, current itself while its block runs."""
    if _tracer is None:
        return OFF
    return _Current(_tracer.start_as_current_span(name, attributes=attributes))


def traceparent() -> str | None:
    """The W3C traceparent of the current span, if it is sampled (None when off)."""
    if _tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return _format(context)


def ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span, in hex, for the log lines (None when off)."""
    if _tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


# -- HTTP ---------------------------------------------------------------------------------------


def request_span(method: str, headers: Iterable[tuple[bytes, bytes]]) -> _Off | _Current:
    """The server span of one HTTP request, continuing the caller's trace (its `traceparent`
    header) if it sent one; `finish_request` names it once the route is known."""
    if _tracer is None:
        return OFF
    parent = None
    for name, value in headers:
        if name == b"traceparent":
            parent = _context(value.decode("latin-1"))
            break
    return _Current(
        _tracer.start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method},
            record_exception=True,
        )
    )


def finish_request(request: Span | None, method: str, route: str | None, status: int) -> None:
    if request is None:
        return
    if route is not None:
        request.update_name(f"{method} {route}")
        request.set_attribute("http.route", route)
    request.set_attribute("http.response.status_code", status)
    if status >= 500:
        request.set_status(Status(StatusCode.ERROR))


# -- the relay ----------------------------------------------------------------------------------


class Publication:
    """The relay's publish spans of one batch: one per append transaction that kept a trace
    context (a child of that append's span), whose own context each of the append's events
    carries on in the `ce_traceparent` header. Spans end when Kafka has acked the batch."""

    def __init__(self, parents: Mapping[int, str], topic: str) -> None:
        self._parents = parents
        self._topic = topic
        self._values: dict[int, bytes] = {}
        self._spans: list[Span] = []

    def headers(self, transaction_id: int, headers: Headers) -> Headers:
        """An event's headers, with the trace context of its append when it kept one."""
        if not self._parents or _tracer is None:
            return headers
        parent = self._parents.get(transaction_id)
        if parent is None:
            return headers
        value = self._values.get(transaction_id)
        if value is None:
            publish = _tracer.start_span(
                "vq.relay publish",
                context=_context(parent),
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": self._topic,
                },
            )
            self._spans.append(publish)
            value = self._values[transaction_id] = _format(publish.get_span_context()).encode()
        return [*headers, (HEADER, value)]

    async def published(self, sending: Awaitable[T]) -> T:
        """Await the batch's acks, then end its spans (marked failed if Kafka failed)."""
        try:
            return await sending
        except BaseException as exc:
            for publish in self._spans:
                publish.record_exception(exc)
                publish.set_status(Status(StatusCode.ERROR))
            raise
        finally:
            for publish in self._spans:
                publish.end()


UNTRACED = Publication({}, "")


# -- the stream workers and the live push ---------------------------------------------------------


def consumed(name: str, received: Iterable[ReceivedHeaders | None], count: int) -> _Off | _Current:
    """A batch's span, current while its block runs: a child of its first traced event's
    context, linked to the other traces of the batch. `received` is not read when off."""
    if _tracer is None:
        return OFF
    parents: list[str] = []
    for headers in received:
        value = _header(headers)
        if value is not None and value not in parents:
            parents.append(value)
            if len(parents) > MAX_LINKS:
                break
    links = [Link(linked) for tp in parents[1:] if (linked := _span_context(tp)).is_valid]
    return _Current(
        _tracer.start_as_current_span(
            name,
            context=_context(parents[0]) if parents else None,
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={
                "messaging.operation.type": "process",
                "messaging.batch.message_count": count,
            },
        )
    )


def stamped(message: dict[str, Any]) -> dict[str, Any]:
    """A pub/sub message carrying the current span's context (unchanged when off)."""
    if _tracer is not None and (parent := traceparent()) is not None:
        message[MESSAGE_KEY] = parent
    return message


def pushed(message: Mapping[str, Any]) -> _Off | _Ended:
    """The span of a live follower sending a batch's view, a child of the batch's apply span
    (the message's `traceparent`); the first follower's only, per batch and process. Not made
    current: the block is a generator's `yield`."""
    if _tracer is None:
        return OFF
    parent = message.get(MESSAGE_KEY)
    if not isinstance(parent, str) or parent in _pushed:
        return OFF
    _pushed[parent] = None
    if len(_pushed) > PUSHES_REMEMBERED:
        del _pushed[next(iter(_pushed))]
    attributes = (
        {"vq.stream_version": version} if isinstance(version := message.get("version"), int) else {}
    )
    return _Ended(
        _tracer.start_span("vq.live push", context=_context(parent), attributes=attributes)
    )


# -- W3C trace context --------------------------------------------------------------------------


def _format(context: SpanContext) -> str:
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def _context(value: str) -> Context:
    """The context whose current span is the remote parent `value` names (an empty context, so
    a new trace, when it is not a valid traceparent)."""
    return _propagator.extract({"traceparent": value})


def _span_context(value: str) -> SpanContext:
    return trace.get_current_span(_context(value)).get_span_context()


def _header(headers: ReceivedHeaders | None) -> str | None:
    if not headers:
        return None
    pairs: Iterable[tuple[str, bytes | None]]
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        if name == HEADER and value:
            return value.decode("latin-1")
    return None
