"""No request hangs (http_api/limits.py DeadlineMiddleware): past the deadline with no answer
started, a request whose body has not all come is the client's delay (408, connection closed),
anything else ours (503 with Retry-After)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

from http_api.limits import DeadlineMiddleware

Message = MutableMapping[str, Any]


async def _reads_the_body_then_thinks(scope: Any, receive: Any, send: Any) -> None:
    while (await receive()).get("more_body", False):
        pass
    await asyncio.sleep(3600)  # a queue too busy to answer in time


async def _call(headers: list[tuple[bytes, bytes]], parts: list[Message]) -> list[Message]:
    app = DeadlineMiddleware(
        _reads_the_body_then_thinks, seconds=0.2, extra=lambda query: 0.0, retry_after_s=3
    )
    waiting = list(parts)

    async def receive() -> Message:
        if waiting:
            return waiting.pop(0)
        await asyncio.sleep(3600)  # the rest of the body never comes
        raise AssertionError

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/q", "headers": headers}
    await app(scope, receive, send)
    return sent


def _answer(sent: list[Message]) -> tuple[int, dict[bytes, bytes], dict[str, Any]]:
    start, body = sent
    return start["status"], dict(start["headers"]), json.loads(body["body"])


async def test_a_body_that_never_finishes_is_a_408_and_the_connection_is_closed() -> None:
    half = {"type": "http.request", "body": b'{"pri', "more_body": True}
    status, headers, problem = _answer(await _call([(b"content-length", b"20")], [half]))
    assert (status, problem["type"]) == (408, "/problems/request-timeout")
    assert headers[b"connection"] == b"close" and b"retry-after" not in headers
    chunked = [(b"transfer-encoding", b"chunked")]
    assert _answer(await _call(chunked, []))[0] == 408  # not one chunk came


async def test_a_whole_request_answered_late_is_a_503_with_retry_after() -> None:
    whole = {"type": "http.request", "body": b"{}", "more_body": False}
    status, headers, problem = _answer(await _call([(b"content-length", b"2")], [whole]))
    assert (status, problem["type"]) == (503, "/problems/service-unavailable")
    assert headers[b"retry-after"] == b"3" and b"connection" not in headers
    # No body at all (a GET, or a length of 0): the delay is ours too.
    for headers_ in ([], [(b"content-length", b"0")]):
        bare = {"type": "http.request", "body": b"", "more_body": False}
        assert _answer(await _call(headers_, [bare]))[0] == 503


async def test_the_problem_goes_out_at_the_deadline_however_long_the_request_takes_to_end() -> None:
    """A request cancelled at its deadline may take seconds to end (psycopg waits for a hung
    PostgreSQL to acknowledge the cancel): its 503 goes out at the deadline all the same, and
    what the app says while it ends is dropped."""
    happened: list[str] = []

    async def slow_to_end(scope: Any, receive: Any, send: Any) -> None:
        try:
            await asyncio.sleep(3600)  # a statement on a server that stopped answering
        except asyncio.CancelledError:
            await asyncio.sleep(0.5)  # the driver's own cancellation, waiting on the server
            happened.append("ended")
            await send({"type": "http.response.start", "status": 500, "headers": []})
            raise

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            happened.append(f"answered {message['status']}")

    app = DeadlineMiddleware(slow_to_end, seconds=0.2, extra=lambda query: 0.0, retry_after_s=3)
    scope = {"type": "http", "method": "GET", "path": "/v1/q", "headers": []}
    await app(scope, _never, send)
    assert happened == ["answered 503", "ended"]


async def _never() -> Message:
    await asyncio.sleep(3600)
    raise AssertionError
