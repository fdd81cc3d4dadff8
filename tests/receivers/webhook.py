"""A webhook receiver on loopback: records every request and answers what each path is scripted
to answer (200 unless told otherwise).

    with WebhookReceiver() as hooks:
        url = hooks.url_for("/orders")
        hooks.fail("/orders", times=2, status=500)    # 500, 500, then 200
        hooks.gone("/old")                            # 410 for ever
        hooks.stall("/slow")                          # never answers (until the server stops)
        hooks.redirect("/moved", "http://127.0.0.1:1/elsewhere")
        hooks.script("/custom", Reply(503, headers={"retry-after": "1"}), then=Reply(204))
        ...
        [first, second, third] = await hooks.wait_for(3, path="/orders")
        first.headers["webhook-signature"], first.body, first.at, first.status
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.receivers import HttpReceiver, wait_until

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stall: bool = False  # never answer


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.time() on arrival
    status: int | None  # what it was answered; None: never answered


@dataclass
class _Script:
    replies: deque[Reply]
    then: Reply


class WebhookReceiver(HttpReceiver):
    def __init__(self) -> None:
        self._scripts: dict[str, _Script] = {}
        self._requests: list[WebhookRequest] = []
        route = Route("/{path:path}", self._receive, methods=METHODS)
        super().__init__(Starlette(routes=[route]))

    def url_for(self, path: str = "/hook") -> str:
        return self.url + path

    def script(self, path: str, *replies: Reply, then: Reply | None = None) -> None:
        """`path` answers `replies` in order, then `then` (200 unless given) for ever after."""
        with self.lock:
            self._scripts[path] = _Script(deque(replies), then or Reply())

    def fail(self, path: str, times: int, status: int = 500) -> None:
        self.script(path, *[Reply(status)] * times)

    def gone(self, path: str) -> None:
        self.script(path, then=Reply(410))

    def stall(self, path: str) -> None:
        self.script(path, then=Reply(stall=True))

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.script(path, then=Reply(status, headers={"location": location}))

    def requests(self, path: str | None = None) -> list[WebhookRequest]:
        with self.lock:
            return [r for r in self._requests if path is None or r.path == path]

    async def wait_for(
        self, count: int, timeout: float = 5.0, *, path: str | None = None
    ) -> list[WebhookRequest]:
        what = f"{count} request(s)" + (f" to {path}" if path else "")
        await wait_until(lambda: len(self.requests(path)) >= count, timeout, what)
        return self.requests(path)

    def _next(self, path: str) -> Reply:
        """Called with the lock held."""
        script = self._scripts.get(path)
        if script is None:
            return Reply()
        return script.replies.popleft() if script.replies else script.then

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        with self.lock:
            reply = self._next(path)
            self._requests.append(
                WebhookRequest(
                    request.method,
                    path,
                    {k.lower(): v for k, v in request.headers.items()},
                    body,
                    time.time(),
                    None if reply.stall else reply.status,
                )
            )
        if reply.stall:
            await self.wait_released()
            return Response(status_code=503)
        return Response(reply.body, status_code=reply.status, headers=reply.headers)
