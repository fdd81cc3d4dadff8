"""Helpers for the stack's own tests: run `vq` as a user would, and a private, empty stack setup.

Tests that need a broken setup get a temporary VQ_DATA_DIR and free ports of their own, so they never
disturb the shared stack that `make test` started for everyone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def vq(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Result:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "vq.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def shared_stack() -> Result:
    """The shared stack, up (a no-op taking well under a second when `make test` started it)."""
    result = vq("stack", "up")
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def private_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a stack of our own: empty data folder, free ports, no other VQ_* settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VQ_")}
    env.update(
        {
            "VQ_ENV": "dev",
            "VQ_DATA_DIR": str(tmp_path / "vq-data"),
            "VQ_PG_PORT": str(free_port()),
            "VQ_REDIS_PORT": str(free_port()),
            "VQ_KAFKA_PORT": str(free_port()),
            "VQ_KAFKA_CONTROLLER_PORT": str(free_port()),
            "VQ_REGISTRY_PORT": str(free_port()),
        }
    )
    return env


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port held by a program that is not ours: `python3 -m http.server`."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        server.kill()
        server.wait()
