"""Limits every request gets: a path read one way only (no encoded slash), a body size (and a
JSON body read one way only: strict_json.py), and a deadline for the answer to start."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from http_api import strict_json
from http_api.problems import PROBLEM_MEDIA_TYPE, ProblemError

# An encoded slash or backslash in a path, as sent (the query string is not part of it).
_ENCODED_SEPARATOR = re.compile(rb"%(?:2f|5c)", re.IGNORECASE)


class EncodedSlashMiddleware:
    """Refuses a request whose path, as sent, holds an encoded slash or backslash (`%2F`,
    `%5C`): a 400 `ambiguous-path`, before any route, credential or rate limit is looked at.

    The router matches the decoded path, so `/v1/queues/<id>%2Fpause` would reach the route of
    `/v1/queues/<id>/pause`: a proxy in front that allows or denies by path sees one segment
    after `queues` where we would see two, and a rule written for the one would not hold for
    the other. No route takes a slash inside a segment (no `{...:path}` parameter), so no valid
    request is lost. A WebSocket's handshake is refused as the live routes refuse theirs
    (`refuse_websocket`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") if scope["type"] in ("http", "websocket") else None
        # The path alone (some servers and test transports have passed the query along).
        path_sent = raw.partition(b"?")[0] if raw else b""
        if not _ENCODED_SEPARATOR.search(path_sent):
            await self.app(scope, receive, send)
            return
        path = path_sent.decode("latin-1")
        problem = ProblemError(
            "ambiguous-path",
            "the path holds an encoded slash or backslash (%2F, %5C), which could be read as "
            "a separator or not; send the path without it",
        )
        if scope["type"] == "http":
            await _send_problem(send, problem, scope, instance=path)
        else:
            await refuse_websocket(WebSocket(scope, receive, send), problem, path)


async def refuse_websocket(
    websocket: WebSocket, problem: ProblemError, path: str | None = None
) -> None:
    """Answer a WebSocket's handshake with the problem (400, 401, 404, 503) where the server
    can, else close it (the server then answers 403)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        body = problem.body(instance=path or websocket.url.path)
        answer = JSONResponse(
            body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_MEDIA_TYPE
        )
        await websocket.send_denial_response(answer)
    else:
        await websocket.close(code=4000 + problem.status, reason=problem.code)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, send)
            return
        # Read the whole body first: an error raised from inside the app's `receive` would be
        # turned into some other answer by the framework (FastAPI makes it a parsing error).
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, send)
                return
            more = message.get("more_body", False)
        headers = dict(scope.get("headers", ()))
        if body and strict_json.is_json(headers) and (fault := strict_json.fault(bytes(body))):
            await _send_problem(send, ProblemError("malformed-request", fault), scope)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        problem = ProblemError(
            "payload-too-large", f"request bodies are limited to {self.max_bytes} bytes"
        )
        await _send_problem(send, problem, scope)


class DeadlineMiddleware:
    """No request hangs: if no answer has started within the deadline, the caller gets a 503.

    Only the start of the answer is bounded (pure ASGI, no BaseHTTPMiddleware): an event stream
    that has begun runs as long as its client stays.
    """

    def __init__(
        self,
        app: ASGIApp,
        seconds: float,
        extra: Callable[[Mapping[str, str]], float],
        retry_after_s: int,
    ) -> None:
        self.app = app
        self.seconds = seconds
        self.extra = extra
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        limit = self.seconds + self.extra(query)
        started = False
        body_in = not _has_body(scope)  # until the last part of a body the request has came
        late: asyncio.Task[None] | None = None  # the problem answered at the deadline

        async def receiving() -> Message:
            nonlocal body_in
            message = await receive()
            body_in = body_in or not message.get("more_body", False)
            return message

        def answer_late() -> None:
            """At the deadline, the problem goes out at once, from a task of its own: the
            request's task, cancelled, may take seconds more to end (psycopg waits for a hung
            server to acknowledge the query's cancellation before it gives the connection up)."""
            nonlocal late
            if not started and late is None:
                late = asyncio.create_task(_send_problem(send, self._late(limit, body_in), scope))

        timer = asyncio.get_running_loop().call_later(limit, answer_late)
        try:
            async with asyncio.timeout(limit) as deadline:

                async def send_started(message: Message) -> None:
                    nonlocal started
                    if late is not None:
                        return  # answered already: what the app says now is dropped
                    if message["type"] == "http.response.start":
                        started = True
                        deadline.reschedule(None)
                        timer.cancel()
                    await send(message)

                await self.app(scope, receiving, send_started)
        except TimeoutError:
            if started:
                raise
            answer_late()
        finally:
            timer.cancel()
        if late is not None:
            await late

    def _late(self, limit: float, body_in: bool) -> ProblemError:
        if not body_in:  # the client is slow, not us: a 408, and the connection closed
            return ProblemError(
                "request-timeout",
                f"the request's body did not come within {limit:.0f}s",
                headers={"Connection": "close"},
            )
        return ProblemError(
            "service-unavailable",
            f"no answer within {limit:.0f}s; retry later",
            headers={"Retry-After": str(self.retry_after_s)},
        )


def _has_body(scope: Scope) -> bool:
    """Whether the request says a body follows (a length over 0, or chunks)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


async def _send_problem(
    send: Send, problem: ProblemError, scope: Scope, instance: str | None = None
) -> None:
    body = json.dumps(problem.body(instance=instance or scope.get("path"))).encode()
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in problem.headers.items()]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
