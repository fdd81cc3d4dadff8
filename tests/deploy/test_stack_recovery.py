"""A Kafka killed with SIGKILL comes back with `vq stack up`, topics intact (private instance)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from core.settings import Settings
from deploy import procs
from tests.deploy.conftest import Result, vq

_shared = Settings()
SHARED_LIBS = _shared.kafka_libs or _shared.data_dir.resolve() / "kafka" / "libs"


@pytest.mark.slow
def test_kafka_killed_with_sigkill_comes_back_with_its_topics(
    shared_stack: Result, private_env: dict[str, str]
) -> None:
    # Reuse the shared stack's jars (no Maven), a small heap and few partitions: start-up speed.
    private_env.update(
        VQ_KAFKA_LIBS=str(SHARED_LIBS),
        VQ_KAFKA_HEAP="256m",
        VQ_KAFKA_PARTITIONS="2",
        VQ_TOPIC_PREFIX="recovery",
    )
    pidfile = Path(private_env["VQ_DATA_DIR"]) / "kafka" / "kafka.pid"
    try:
        first = vq("stack", "up", "kafka", env=private_env)
        assert first.returncode == 0, first.stderr
        assert "created topic recovery.queue-events (2 partitions)" in first.stdout

        pid = procs.read_pid(pidfile)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert procs.wait_until(lambda: not procs.alive(pid), timeout=10)
        down = vq("stack", "status", "kafka", env=private_env)
        assert down.returncode == 1
        assert f"stale pid file: pid {pid} is gone" in down.stdout

        again = vq("stack", "up", "kafka", env=private_env)
        assert again.returncode == 0, again.stderr
        assert "created topic" not in again.stdout  # the topics survived
        assert "recovery.queue-events[2] recovery.positions[2]" in again.stdout
        assert procs.read_pid(pidfile) != pid
    finally:
        stopped = vq("stack", "down", "kafka", env=private_env)
        assert stopped.returncode == 0, stopped.stderr
