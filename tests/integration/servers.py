"""Real API server processes (uvicorn, via `vq api`) on the test's own schema and topics."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

import httpx

from core.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a `vq` subprocess use exactly these settings."""
    return {**os.environ, **settings.environment()}


@contextmanager
def api_servers(settings: Settings, count: int) -> Iterator[list[str]]:
    """Start `count` API processes; yields their base URLs; stops them cleanly afterwards.

    Their stderr goes to files, not pipes (a pipe nobody reads blocks a chatty process once
    full); what they logged of an error is printed when they stop (pytest shows it on failure).
    """
    with api_processes(settings, [1] * count) as servers:
        yield [server.url for server in servers]


@dataclass
class ApiProcess:
    """One running `vq api` (api_processes): its base URL, the process to signal, its stderr."""

    url: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes]

    def logged(self) -> str:
        return _read(self.log)


@contextmanager
def api_processes(settings: Settings, workers: Sequence[int]) -> Iterator[list[ApiProcess]]:
    """`api_servers`, one per item of `workers` with that many worker processes (`--workers`),
    yielding the processes themselves (a test stops one while it serves)."""
    servers: list[ApiProcess] = []
    try:
        for count in workers:
            port = free_port()
            log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally)
            command = ["api", "--port", str(port), "--workers", str(count)]
            servers.append(
                ApiProcess(
                    f"http://127.0.0.1:{port}",
                    subprocess.Popen(
                        [sys.executable, "-m", "vq.cli", *command],
                        env=settings_env(settings),
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                    ),
                    log,
                )
            )
        for server in servers:
            _wait_healthy(server.url, server.proc, server.log)
        yield servers
    finally:
        for server in servers:
            server.proc.terminate()  # nothing, for one that has already stopped
        for server in servers:
            try:
                server.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait()
            if "Traceback" in (text := server.logged()):
                print(f"an API process logged an error:\n{text[-8000:]}")
            server.log.close()


def _read(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")


def _wait_healthy(
    url: str, proc: subprocess.Popen[bytes], log: IO[bytes], timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"API process exited: {_read(log)[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"API at {url} did not start")


class Process:
    """One `vq` subprocess (relay, worker, api) on the test's settings."""

    def __init__(self, settings: Settings, *args: str) -> None:
        self.args = args
        self._env = settings_env(settings)
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        # Its log goes to a file, not a pipe: nobody reads a pipe while it runs, and a chatty
        # process would block on a full one.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vq.cli", *self.args],
            env=self._env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def logged(self) -> str:
        """What it wrote to stderr so far."""
        return "" if self._log.closed else _read(self._log)

    def kill(self) -> None:
        """SIGKILL: no goodbye, no offset commit, no flush."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=15)
        self._log.close()

    def terminate(self) -> None:
        """SIGTERM, if it still runs (stop() then waits for it)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()

    def stop(self) -> str:
        """SIGTERM and wait; returns what it wrote to stderr."""
        assert self.proc is not None
        self.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._log.closed:
            return ""
        written = _read(self._log)
        self._log.close()
        return written


@contextmanager
def read_side(settings: Settings, workers: int = 1) -> Iterator[list[Process]]:
    """The relay and `workers` stream workers, running until the block ends.

    Yields the worker processes (kill and restart them to test recovery). The test's topics must
    exist (the `topics` fixture).
    """
    relay = Process(settings, "relay")
    running = [Process(settings, "worker", "--loglevel", "warning") for _ in range(workers)]
    try:
        yield running
    finally:
        stop_all([relay, *running])


def stop_all(processes: list[Process]) -> None:
    """SIGTERM to each at once, then each waited for: they stop side by side."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.stop()
