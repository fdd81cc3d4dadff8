"""Real API server processes (uvicorn, via `vq api`) on the test's own schema and topics."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[IO[bytes]] = []
    urls: list[str] = []
    try:
        for _ in range(count):
            port = free_port()
            logs.append(tempfile.TemporaryFile())  # noqa: SIM115 (closed in the finally)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "vq.cli", "api", "--port", str(port)],
                    env=settings_env(settings),
                    stdout=subprocess.DEVNULL,
                    stderr=logs[-1],
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc, log in zip(urls, procs, logs, strict=True):
            _wait_healthy(url, proc, log)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            text = _read(log)
            if "Traceback" in text:
                print(f"an API process logged an error:\n{text[-8000:]}")
            log.close()


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
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vq.cli", *self.args],
            env=self._env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def kill(self) -> None:
        """SIGKILL: no goodbye, no offset commit, no flush."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.communicate(timeout=15)

    def stop(self) -> str:
        """SIGTERM and wait; returns what it wrote to stderr."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err.decode(errors="replace")


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
        for process in [relay, *running]:
            process.stop()
