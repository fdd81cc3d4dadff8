"""Log lines, configured in one place for every `vq` process (`configure_logging`).

JSON (the services' default, `VQ_LOG_FORMAT=json`): one object per line with `time` (UTC),
`level`, `process` (api, relay, worker, notifier), `pid`, `logger` and `message`; then, when
known, `tenant`, `queue` and `command_id` (the context of the request or batch), `trace_id` and
`span_id` (tracing on), the call's `extra=` fields, and `exception` (the traceback). Text
(`VQ_LOG_FORMAT=text`, the command-line tools' default) is the look the processes always had.

The context: `context()` opens one per HTTP request (`RequestLog`) or per batch (the stream
worker); `bind()` adds to the open one: the event store names the command it appends, so the
request's own line says which command it was, and the worker's line for the batch that applied
it says the same. Outside one `bind` does nothing, so a long-lived task (the aging
scheduler) never carries a stale tenant into its next line.

Nothing secret goes out: a URL's password and a bearer token in a message or a traceback are
masked (the code logs neither on purpose; this is the net under a driver's error message).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings
from observability import tracing

# The long-running processes: JSON by default. Anything else (a CLI tool) gets text.
SERVICES = ("api", "relay", "worker", "notifier")
TEXT_FORMAT = "%(asctime)s %(name)s %(message)s"
# Methods that only read: their request lines are DEBUG, so a busy read side does not fill the
# log; commands (every other method) and failures (5xx) are INFO and WARNING.
READS = frozenset({"GET", "HEAD", "OPTIONS"})
# What a request is logged with when its client left before any answer (nginx says 499 too).
CLIENT_GONE = 499
# Attributes every LogRecord has: what is not among them came from the call's `extra=`.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "color_message", "taskName"}
)
# `scheme://user:password@` and `Bearer <token>`: masked wherever they show up.
_SECRETS = re.compile(r"(?P<url>://[^\s/:@]*:)[^\s@/]+@|(?P<bearer>\b[Bb]earer\s+)[\w.~+/=-]+")

# A library's line said again within this many seconds is counted, not written (below).
REPEAT_WINDOW_S = 10.0

_fields: ContextVar[dict[str, Any] | None] = ContextVar("vq_log_context", default=None)
log = logging.getLogger("vq.http")


def configure_logging(
    process: str, settings: Settings | None = None, level: str | None = None
) -> None:
    """One handler on the root logger, to stderr, in the configured format; every library's
    loggers (uvicorn's, Faust's, aiokafka's) write through it. Safe to call again."""
    chosen = settings.log_format if settings is not None else None
    handler = logging.StreamHandler(sys.stderr)
    if (chosen or ("json" if process in SERVICES else "text")) == "json":
        handler.setFormatter(JsonFormatter(process))
    else:
        handler.setFormatter(TextFormatter(TEXT_FORMAT))
    handler.addFilter(Repeats())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((level or (settings.log_level if settings is not None else "info")).upper())
    # uvicorn may have given its loggers handlers of their own: everything goes through ours.
    # (Not uvicorn.access: `vq api` turns it off, and RequestLog writes the request lines.)
    for name in ("uvicorn", "uvicorn.error"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    # httpx logs every request at INFO with its whole URL (a webhook's may carry a secret in its
    # query; the relay's registry calls are one line each): warnings only.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


class Repeats(logging.Filter):
    """A library's line (any logger outside `vq.`) that says again what it said less than
    `window` seconds ago is counted instead of written; the first one after the window says how
    many were left out. During an outage aiokafka logs every refused connection at ERROR (about
    1,200 lines in 11 s from one worker): an operator needs the first line and the count, not a
    flood that buries everything else. Our own lines are written as they come."""

    def __init__(self, window: float = REPEAT_WINDOW_S, clock: Any = time.monotonic) -> None:
        super().__init__()
        self._window, self._clock = window, clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "vq" or record.name.startswith("vq."):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        found = self._seen.get(key)
        if found is not None and now - found[0] < self._window:
            self._seen[key] = (found[0], found[1] + 1)
            return False
        if len(self._seen) > 1_000:  # many different lines: none of them is a flood
            self._seen.clear()
        self._seen[key] = (now, 0)
        if found is not None and found[1]:
            record.repeated = found[1]  # a field of its own in JSON
            if isinstance(record.msg, str):
                record.msg += f" ({found[1]} more like this in the {now - found[0]:.0f} s before)"
        return True


def scrub(text: str) -> str:
    """`text` without a URL's password or a bearer token."""
    if "://" not in text and "earer" not in text:
        return text
    return _SECRETS.sub(lambda m: (m["url"] + "***@") if m["url"] else m["bearer"] + "***", text)


class JsonFormatter(logging.Formatter):
    def __init__(self, process: str) -> None:
        super().__init__()
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "process": self._process,
            "pid": record.process,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        fields = _fields.get()
        if fields:
            line.update(fields)
        if (trace_ids := tracing.ids()) is not None:
            line["trace_id"], line["span_id"] = trace_ids
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = scrub(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


# -- context ------------------------------------------------------------------------------------


class context:  # lower case: used as a function, `with logs.context(tenant=...)`
    """A log context for the block (one request, one batch): every line logged in it, in this
    task or in the tasks it starts, carries `fields` and what `bind` adds."""

    __slots__ = ("_opened", "_token")

    def __init__(self, **fields: str) -> None:
        self._opened: dict[str, Any] = fields

    def __enter__(self) -> dict[str, Any]:
        self._token = _fields.set(self._opened)
        return self._opened

    def __exit__(self, *exc: object) -> None:
        _fields.reset(self._token)


def bind(**fields: str) -> None:
    """Add to the open context (nothing outside one)."""
    opened = _fields.get()
    if opened is not None:
        opened.update(fields)


def current() -> dict[str, Any]:
    """A copy of the open context (empty outside one)."""
    return dict(_fields.get() or {})


# -- HTTP ---------------------------------------------------------------------------------------


class RequestLog:
    """Pure ASGI: each HTTP request gets a log context and its trace span (tracing on), and one
    line when it ends: method, route template, status, duration, and the command it appended
    (tenant, queue, command_id), so it can be followed into the relay's and the worker's logs.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        status = 0  # until an answer starts
        gone = False  # the client went before it: closed, or a broken request the server refused
        started = time.perf_counter()

        async def receiving() -> Message:
            nonlocal gone
            message = await receive()
            gone = gone or message["type"] == "http.disconnect"
            return message

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with context() as fields, tracing.request_span(method, scope.get("headers", ())) as request:
            try:
                await self.app(scope, receiving, sending)
            finally:
                if not status:  # no answer: the client left first, else the app raised
                    status = CLIENT_GONE if gone else 500
                route = getattr(scope.get("route"), "path", None)
                tracing.finish_request(request, method, route, status)
                queue = scope.get("path_params", {}).get("queue_id")
                if queue is not None:
                    fields.setdefault("queue", str(queue))
                _log_request(method, route, status, time.perf_counter() - started)


def _log_request(method: str, route: str | None, status: int, took: float) -> None:
    level = logging.WARNING if status >= 500 else logging.DEBUG if method in READS else logging.INFO
    if not log.isEnabledFor(level):
        return
    # The route template, not the path: no id (nor anything else a client typed) in the message.
    shown = route or "(no route)"
    log.log(
        level,
        "%s %s %d",
        method,
        shown,
        status,
        extra={
            "method": method,
            "route": shown,
            "status": status,
            "duration_ms": round(took * 1000, 2),
        },
    )
