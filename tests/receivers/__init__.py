"""Real servers on loopback for the notification tests: what our channels talk to, for real.

Each runs in its own thread with its own event loop, on 127.0.0.1 and a port the system chose,
so a test's client and the server never share a loop (a server that hangs does not hang the
test) and several tests may run side by side. What they record is read through locked accessors.

`HttpReceiver` is the common part of the HTTP ones: a Starlette app served by uvicorn.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp

STARTUP_SECONDS = 10.0


class HttpReceiver:
    """Serves `app` on 127.0.0.1:<free port> in a background thread (`start`/`stop`, or `with`).

    `released` is set when the server stops: a handler told to hang waits for it (`wait_released`),
    so stopping never waits on a request that would otherwise never end."""

    def __init__(self, app: ASGIApp) -> None:
        self.released = threading.Event()
        self.lock = threading.Lock()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
            loop="asyncio",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.released.set()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def wait_released(self) -> None:
        """Never answer (until the server stops)."""
        await asyncio.to_thread(self.released.wait)


async def wait_until(
    condition: Callable[[], bool], timeout: float, what: str = "the condition"
) -> None:
    """Polls `condition` from the test's loop until it holds, else TimeoutError."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:g} s")
        await asyncio.sleep(0.01)
