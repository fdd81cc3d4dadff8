"""A live stream's answer: Server-Sent Events written by one small task, straight to the server.

Ten thousand followers on one process make every push's cost count, so the events do not go
through the generic machinery: no StreamingResponse over nested generators, no pass through
every layer's send for each event. The head of the answer goes out through the app's layers
like any other (security headers, rate-limit headers, metrics, the request log); the events then
go to the server's own send (`security.SERVER_SEND`): those layers act on an answer's start only.

An `EventStream` runs its `pump` in a task of its own (its frames are few, so each wake-up is
cheap) while the request's task waits for the client to leave (the server says so through
`receive`) and then cancels it; a pump that ends by itself (the hub closed, the credential was
revoked, Redis went away) completes the answer, which ends the wait. Either way the live
connection's lease is released once the pump has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Final

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from http_api.security import SERVER_SEND
from observability import tracing
from projections.fanout import KEEPALIVE as KEEPALIVE_MARK
from projections.fanout import RESYNC, Lease
from projections.live_follower import SENT
from projections.queries import QueueRead, ReadModels, ReadModelUnavailable
from projections.read_side import ReadSide, Told
from query_api.views import queue_event, status_event

# How soon EventSource reconnects after a drop: the stream's first chunk.
RECONNECT_MS: Final = 2000
RETRY: Final = f"retry: {RECONNECT_MS}\n\n".encode()
# After this long without an event, a comment, so that proxies keep an idle stream open.
KEEPALIVE_S: Final = 15.0
KEEPALIVE: Final = b": keepalive\n\n"
_END: Final[Message] = {"type": "http.response.body", "body": b"", "more_body": False}

# Sends one event (or comment): its bytes, as one chunk of the answer. What it answers is
# awaited before the next push (SENT: it went out already, see send_now).
Push = Callable[[bytes], Awaitable[None]]
Pump = Callable[[Push], Awaitable[None]]


class EventStream(Response):
    """`text/event-stream`: `retry:` first, then what `pump(push)` pushes, until it returns or
    the client leaves; `release` is called once it has ended."""

    media_type = "text/event-stream"

    def __init__(self, pump: Pump, version: int, release: Callable[[], None]) -> None:
        self.status_code = 200
        self.background = None
        self._pump = pump
        self._release = release
        self.init_headers(
            {
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                "X-Stream-Version": str(version),
            }
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            server_send: Send = scope.get(SERVER_SEND, send)
            pumping = asyncio.create_task(self._run(server_send, send), name="vq-live-stream")
            try:
                # Until the client leaves, or the pump completed the answer (the server then
                # says "disconnect" too).
                while (await receive())["type"] != "http.disconnect":
                    pass  # the rest of a request body, if any
            finally:
                pumping.cancel()
                await _ended(pumping)
        finally:
            self._release()

    async def _run(self, server_send: Send, send: Send) -> None:
        """The pump, then the answer's end (through the layers, as its start). The read model
        unavailable (Redis lost, the hub closed, the credential revoked) ends it quietly: the
        client reconnects, as EventSource does (and gets a 503 or 401 until it may follow
        again). A failure ends it too, and the request's task raises it (the server logs it)."""

        def push(chunk: bytes) -> Awaitable[None]:
            return send_now(
                server_send, {"type": "http.response.body", "body": chunk, "more_body": True}
            )

        try:
            await push(RETRY)
            await self._pump(push)
        except ReadModelUnavailable:
            pass
        except Exception:
            await send(_END)
            raise
        await send(_END)


def send_now(send: Send, message: Message) -> Awaitable[None]:
    """Run the server's `send` of `message` as far as it goes without waiting: SENT when it is
    done (nearly always: the server wrote to its connection), else the rest of it, to be
    awaited before any other send on the connection (the connection's buffer was full: the
    rest waits for the client to read). So a push costs a call, not a wake-up of a task, and it
    can be made from the hub's task (Follower.direct). Runs in the caller's context: fit for
    the server's own send (security.SERVER_SEND), not for layers that keep context."""
    step = send(message)
    if not isinstance(step, Coroutine):
        return step
    try:
        waits_on = step.send(None)
    except StopIteration:
        return SENT
    return _Rest(step, waits_on)


class _Rest:
    """The rest of a coroutine that suspended on `waits_on`: awaiting it resumes the coroutine
    when what it waits for is done, as awaiting it from the start would have."""

    __slots__ = ("_step", "_waits_on")

    def __init__(self, step: Coroutine[Any, Any, Any], waits_on: Any) -> None:
        self._step = step
        self._waits_on = waits_on

    def __await__(self) -> Generator[Any, Any, None]:
        step, waits_on = self._step, self._waits_on
        while True:
            try:
                resumed = yield waits_on
            except GeneratorExit:
                step.close()
                raise
            except BaseException as exc:  # cancelled: into the coroutine, as `await` does
                try:
                    waits_on = step.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    waits_on = step.send(resumed)
                except StopIteration:
                    return


async def _ended(task: asyncio.Task[None]) -> None:
    """Wait for a task that was cancelled to end; its failure, if it failed first, is raised,
    and so is a cancellation of the caller itself."""
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


# Shows one view of the queue: its version, the stored view and the newcomer's wait range.
# What it answers is awaited before the next (SENT: shown already, as send_now's).
Show = Callable[[int, dict[str, Any], dict[str, Any] | None], Awaitable[None]]


async def pump_queue(
    models: ReadModels,
    tenant: str,
    queue_id: str,
    last_id: int | None,
    lease: Lease | None,
    show: Show,
    quiet: Callable[[], Awaitable[None]] | None,
    known: QueueRead | None = None,
) -> None:
    """The queue's current view (unless the client has it, `last_id`), then the newest view
    after each batch (views are whole: a follower that reads slower than the queue changes
    skips the ones in between), the view as it is now after falling behind; `quiet` after
    KEEPALIVE_S without a view (None: nothing). Raises ReadModelUnavailable (Revoked,
    HubClosed) when the stream must end.

    One loop, no generator; and while it waits, a batch's view is shown from the hub's task
    (Follower.direct) without waking it: a push is a call of `show`.

    `known`: the view the request read a moment before. When Redis is too busy for the read
    after subscribing (hundreds of followers opening at once, its pool taken), that view is
    shown instead of ending the stream (which would send every client back at once, into the
    same crowd), and the read is tried again at the next keepalive: a change that fell between
    the two reads is then shown, if no later one has been."""
    async with models.subscription(tenant, queue_id, lease) as sub:
        sub.whole = True  # views: the newest supersedes those before it
        if quiet is not None:
            sub.keepalive(KEEPALIVE_S)
        unsure = False  # shown `known`: a change between the two reads may be missing
        try:
            current = await models.queue(tenant, queue_id)  # after subscribing: nothing slips by
        except ReadModelUnavailable:
            if known is None or quiet is None:
                raise
            current, unsure = known, True
        if current is None:
            return
        views = _Views(show, current.version)
        if last_id is None or last_id < views.seen:
            await show(views.seen, current.view, current.newcomer)
        sub.direct = views.show
        while True:
            message = await sub.message(newest=True)
            if message is KEEPALIVE_MARK:
                if quiet is not None:
                    await quiet()
                if unsure:
                    with contextlib.suppress(ReadModelUnavailable):  # still busy: next time
                        await views.show_read(await models.queue(tenant, queue_id))
                        unsure = False
            elif message is RESYNC:  # fell behind: what the view is now is all that matters
                await views.show_read(await models.queue(tenant, queue_id))
            else:
                await views.show(message)


class _Views:
    """A queue follower's views in version order: the newest version shown (`seen`), and the
    show of a batch message's view, or of a view read again, when it is newer."""

    __slots__ = ("_show", "seen")

    def __init__(self, show: Show, seen: int) -> None:
        self._show = show
        self.seen = seen

    def show(self, message: dict[str, Any]) -> Awaitable[None]:
        version = message["version"]
        if version <= self.seen:
            return SENT
        self.seen = version
        with tracing.pushed(message):  # the push span (tracing on): until it is handed over
            return self._show(version, message["view"], message.get("newcomer"))

    async def show_read(self, current: QueueRead | None) -> None:
        if current is not None and current.version > self.seen:
            self.seen = current.version
            await self._show(current.version, current.view, current.newcomer)


def telling(read_side: ReadSide, pump: Pump) -> Pump:
    """`pump`, each push preceded by an `event: status` (views.status_event) when the read
    side's state changed since the client was last told; at the start, only when delayed. A
    change wakes idle followers with a keepalive (Hub.read_side_judged): said within seconds."""

    def told_pump(push: Push) -> Awaitable[None]:
        told = Told(read_side)

        def push_told(chunk: bytes) -> Awaitable[None]:
            if told.news():
                chunk = status_event(read_side) + chunk
            return push(chunk)

        return pump(push_told)

    return told_pump


def queue_pump(
    models: ReadModels,
    tenant: str,
    queue_id: str,
    last_id: int | None,
    lease: Lease,
    known: QueueRead | None = None,
) -> Pump:
    """An SSE stream's pump of a queue's views (`pump_queue`): each view one event, the same
    bytes for every follower of the batch (views.queue_event), a comment for quiet."""
    now = models.now

    def pump(push: Push) -> Awaitable[None]:
        def show(
            version: int, view: dict[str, Any], newcomer: dict[str, Any] | None
        ) -> Awaitable[None]:
            return push(queue_event(queue_id, version, view, newcomer, now))

        def quiet() -> Awaitable[None]:
            return push(KEEPALIVE)

        return pump_queue(models, tenant, queue_id, last_id, lease, show, quiet, known)

    return pump
