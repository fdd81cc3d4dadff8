"""The drill's PostgreSQL clusters: private ones (initdb in a folder of their own, a free port),
started exactly as `vq stack up` starts the stack's, and a disk that can be lost.

Also used by tests/integration/test_backup.py. Never the shared stack's cluster.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import redis

from core.settings import Settings
from deploy import procs
from deploy.postgres import Postgres

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    """A PostgreSQL of its own: `root/postgres/data`, with the stack's configuration."""

    root: Path
    port: int

    @classmethod
    def fresh(cls, root: Path) -> Cluster:
        return cls(root, free_port())

    @property
    def service(self) -> Postgres:
        return Postgres(Settings(data_dir=self.root, pg_port=self.port, env="dev"))

    @property
    def pgdata(self) -> Path:
        return self.service.pgdata

    def url(self) -> str:
        return f"postgresql://vq:vq@127.0.0.1:{self.port}/vq"

    def settings(self, base: Settings) -> Settings:
        """`base` (its schema, prefixes, topics) pointed at this cluster."""
        return base.model_copy(update={"database_url": self.url()})

    def env(self, settings: Settings) -> dict[str, str]:
        """A `vq` subprocess's environment: these settings, and this cluster as the stack's (for
        `vq backup`'s default connection, the stack's socket)."""
        return {
            **os.environ,
            **settings.environment(),
            "VQ_DATA_DIR": str(self.root),
            "VQ_PG_PORT": str(self.port),
        }

    def start(self) -> None:
        service = self.service
        service.wait_ready(service.start())
        service.provision()

    def stop(self) -> None:
        pid = self.service.running_pid()
        if pid is not None:
            self.service.stop(pid)

    def restart(self) -> None:
        self.stop()
        self.start()

    def superuser(self, sql: str, params: Any = None) -> None:
        with psycopg.connect(
            host=str(self.service.socket_dir),
            port=self.port,
            user="postgres",
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(sql, params)

    def lose_disk(self) -> None:
        """SIGKILL the postmaster and every child of it, then delete the data directory."""
        pid = procs.read_pid(self.service.pidfile)
        if pid is not None:
            children = subprocess.run(
                ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
            )
            for victim in [pid, *map(int, children.stdout.split())]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(victim, signal.SIGKILL)
            procs.wait_until(lambda: not procs.alive(pid), timeout=10)
        shutil.rmtree(self.pgdata)


def vq(cluster: Cluster, settings: Settings, *args: str, timeout: float = 3600) -> Any:
    """Run a `vq` command to completion on this cluster; its CompletedProcess (text)."""
    return subprocess.run(
        [sys.executable, "-m", "vq.cli", *args],
        env=cluster.env(settings),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def vq_background(cluster: Cluster, settings: Settings, log: Path, *args: str) -> Any:
    """Start a long-running `vq` command on this cluster, its output to `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "vq.cli", *args],
        env=cluster.env(settings),
        cwd=REPO,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def drop_redis_keys(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_dsn)
    try:
        batch = []
        for key in client.scan_iter(match=f"{settings.redis_prefix}:*", count=5000):
            batch.append(key)
            if len(batch) >= 5000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
    finally:
        client.close()
