"""send_now (query_api/live_stream.py): an ASGI send run as far as it goes without waiting, its
rest awaited later as if awaited from the start. The server's send is played by coroutines that
finish at once or wait as uvicorn's does when its transport is paused."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest

from projections.live_follower import SENT
from query_api.live_stream import send_now


class Server:
    """A send that writes at once unless paused, then waits for `resume` (uvicorn's flow)."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.paused: asyncio.Event | None = None

    async def send(self, message: MutableMapping[str, Any]) -> None:
        if self.paused is not None:
            await self.paused.wait()
        self.written.append(message["body"])


async def test_a_send_that_need_not_wait_is_done_when_called() -> None:
    server = Server()
    assert send_now(server.send, {"body": b"a"}) is SENT
    assert server.written == [b"a"]
    await SENT  # awaiting it costs nothing and returns


async def test_a_send_that_waits_finishes_when_its_rest_is_awaited_and_resumed() -> None:
    server = Server()
    server.paused = asyncio.Event()
    rest = send_now(server.send, {"body": b"b"})
    assert rest is not SENT and server.written == []
    finishing = asyncio.create_task(asyncio.wait_for(rest, 5))
    await asyncio.sleep(0.01)
    assert not finishing.done() and server.written == []
    server.paused.set()
    await finishing
    assert server.written == [b"b"]


async def test_cancelling_the_wait_cancels_the_send_inside() -> None:
    server = Server()
    server.paused = asyncio.Event()
    cancelled: list[bool] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        try:
            await server.send(message)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def await_rest(rest: Any) -> None:
        await rest

    task = asyncio.create_task(await_rest(send_now(send, {"body": b"c"})))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == [True] and server.written == []


async def test_what_the_send_raises_is_raised_where_it_happens() -> None:
    async def refused(message: MutableMapping[str, Any]) -> None:
        raise OSError("the client left")

    with pytest.raises(OSError, match="left"):
        send_now(refused, {})

    gate = asyncio.Event()

    async def refused_later(message: MutableMapping[str, Any]) -> None:
        await gate.wait()
        raise OSError("the client left while the send waited")

    rest = send_now(refused_later, {})
    gate.set()
    with pytest.raises(OSError, match="waited"):
        await rest
