"""uvicorn's httptools protocol with the limits a public HTTP/1.1 server needs before the app runs.

`vq api` passes `HttpProtocol` to `uvicorn.run(http=...)`. Against uvicorn 0.55's own protocol it
adds, per connection:

* a deadline for a request's head: `VQ_HEADER_TIMEOUT_S` (10) seconds from the connection's
  opening, and from the first byte of each later request on a kept-alive connection, to finish
  the request line and headers. Past it the connection is closed (with a 408 problem if part of
  a request came). The timer stops once the headers are complete, so a long body, a WebSocket or
  an SSE stream is not affected; an idle kept-alive connection is still uvicorn's
  (`timeout_keep_alive`).
* a cap on a request's head: past MAX_HEAD_BYTES of request line and headers, a 431 problem and
  the connection closed; the parser is fed no further (httptools would buffer a header value of
  any size).
* RFC 9457 problems instead of uvicorn's `text/plain` 400 for requests that are not valid HTTP/1.1
  (bad chunk sizes, Content-Length with Transfer-Encoding, NUL bytes, unknown methods, ...),
  and for those the parser lets through that RFC 9112 (3.2) says a server must refuse: an
  HTTP/1.1 request without a Host header, any request with more than one.

It relies on uvicorn internals (HttpToolsProtocol's parser callbacks, `transport`,
`server_state.default_headers`, `cycle`, the keep-alive helpers): pyproject.toml holds uvicorn to
0.55.x, and tests/integration/test_http_protocol.py checks the behaviour against a real `vq api`.
"""

from __future__ import annotations

import asyncio
import json

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from core.settings import get_settings
from http_api.problems import PROBLEM_MEDIA_TYPE, ProblemError

# Bytes of a request's line and headers (nginx's default limit is 4 x 8 KiB; browsers send < 8).
MAX_HEAD_BYTES = 64 * 1024

# Problems answered here, below the app (listed with the app's own in http_api/problems.py).
HEAD_TOO_LARGE = "request-header-fields-too-large"
HEAD_TIMEOUT = "request-timeout"
MALFORMED = "malformed-http"  # not valid HTTP/1.1


class _Refused(Exception):
    """Raised in a parser callback to stop the parser: the request is answered a 400."""


class HttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a head deadline, a head size cap and problem+json parse errors."""

    _head_timer: asyncio.TimerHandle | None = None
    # True while a request's head is being received: from the opening, or from the first byte
    # after a whole request, until its headers are complete.
    _in_head = True
    _between_messages = False
    _head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._between_messages:  # the previous request is whole: this is a new one's head
            self._between_messages = False
            self._in_head = True
            self._head_bytes = 0
        if not self._in_head:  # a body (or the tail of one), uncounted
            self._feed(data)
            return
        room = MAX_HEAD_BYTES - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            self._feed(data)
            return
        # The cap falls inside this chunk: feed up to it; the head must have ended by then.
        self._head_bytes = MAX_HEAD_BYTES
        if not self._feed(data[:room]):
            return
        if self._in_head:
            self._send_problem(
                HEAD_TOO_LARGE,
                f"The request line and headers are over {MAX_HEAD_BYTES} bytes.",
            )
            return
        self.data_received(data[room:])  # the body, and maybe the next request's head

    def _feed(self, data: bytes) -> bool:
        """HttpToolsProtocol.data_received's parsing; False once the parser must not be fed more
        (a parse error answered, or an upgrade)."""
        if self.transport.is_closing():
            return False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _Refused):
                raise
            self.send_400_response(str(exc.__context__))
            return False
        except httptools.HttpParserError as exc:
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response(f"The request is not valid HTTP/1.1 ({exc}).")
            return False
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        return not self.transport.is_closing()

    # Parser callbacks
    def on_message_begin(self) -> None:
        self._in_head = True
        self._between_messages = False
        if self._head_timer is None:  # a later request on a kept-alive connection
            self._arm_head_timer()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        self._in_head = False
        self._head_bytes = 0
        hosts = sum(1 for name, _ in self.headers if name == b"host")
        if hosts > 1:
            raise _Refused("The request has more than one Host header.")
        if hosts == 0 and self.parser.get_http_version() == "1.1":
            raise _Refused("An HTTP/1.1 request must have a Host header.")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._between_messages = True
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        self._send_problem(MALFORMED, msg)

    # The head's deadline
    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        # Generous for any real client, even on a slow mobile link (a head is a few hundred
        # bytes), short enough that connections that never send a whole head (slowloris) cannot
        # pile up until the process runs out of open files.
        deadline = get_settings().header_timeout_s
        self._head_timer = self.loop.call_later(deadline, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        # A connection that sent nothing is closed without a word (as a keep-alive one is); one
        # that began a request is told why, unless a response is still being written on it.
        responding = self.cycle is not None and not self.cycle.response_complete
        if self._head_bytes and not responding:
            self._send_problem(
                HEAD_TIMEOUT,
                "The request line and headers must come within "
                f"{get_settings().header_timeout_s:g} seconds.",
            )
        else:
            self.transport.close()

    def _send_problem(self, code: str, detail: str) -> None:
        """Write a problem+json answer, then close the connection (as uvicorn's 400 does)."""
        self._cancel_head_timer()
        problem = ProblemError(code, detail)
        body = json.dumps(problem.body()).encode()
        content = [STATUS_LINE[problem.status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: " + PROBLEM_MEDIA_TYPE.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode() + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
