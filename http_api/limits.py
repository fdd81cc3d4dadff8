"""Limits every request gets: a body size (and a JSON body read one way only: strict_json.py),
and a deadline for the answer to start."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from http_api import strict_json
from http_api.problems import PROBLEM_MEDIA_TYPE, ProblemError


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


async def _send_problem(send: Send, problem: ProblemError, scope: Scope) -> None:
    body = json.dumps(problem.body(instance=scope.get("path"))).encode()
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in problem.headers.items()]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
