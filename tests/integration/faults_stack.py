"""A private stack for the fault test: its own PostgreSQL, Redis and Kafka (deploy/, on free
ports in a temporary data folder) and the product's processes on it (`vq api`, `vq relay`,
`vq worker`, as systemd would run them), each of which can be SIGKILLed and brought back the way
an operator would: the process started again, the server started again on the same data folder.

Nothing here touches the shared stack (55432, 56379, 59092): other tests keep running while this
one kills servers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from core.settings import Settings
from deploy import procs, stack
from deploy.service import Service

SERVERS = ("postgresql", "redis", "kafka")
# The Kafka jars `make test`'s `vq stack up` already resolved (read only: nothing is written there).
KAFKA_HEAP = "256m"
# Fewer partitions than production's 12, as the other tests use: Kafka's restart after a SIGKILL
# recovers every partition's log, and the test measures that restart.
PARTITIONS = 3


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports on loopback (held together while chosen, so all differ)."""
    with ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def kafka_jars() -> Path | None:
    """The jar folder of the shared stack's Kafka (None: none yet; `vq stack up` makes one)."""
    shared = Settings()
    libs = shared.kafka_libs or shared.data_dir / "kafka" / "libs"
    return libs if any(libs.glob("kafka_2.13-*.jar")) else None


def missing_tools() -> list[str]:
    """What this machine lacks to run a native stack (the test skips, naming it)."""
    missing = []
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        missing.append("PostgreSQL binaries")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing.append("java")
    if kafka_jars() is None:
        missing.append("Kafka jars (run `vq stack up` once)")
    return missing


def make_root() -> Path:
    """A temporary data folder the `postgres` OS user can enter (deploy/postgres.py)."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="vq-faults-"))
    root.chmod(0o755)
    return root


def private_settings(root: Path) -> Settings:
    """Settings naming only private things: the data folder `root`, free ports, the product's
    default schema, topic and key names (nobody else uses this stack)."""
    pg, redis, kafka, controller, api, registry = free_ports(6)
    return Settings(
        data_dir=root,
        pg_port=pg,
        redis_port=redis,
        kafka_port=kafka,
        kafka_controller_port=controller,
        api_port=api,
        registry_port=registry,
        registry_url=None,
        # Explicit: the environment of the test run may name the shared stack's servers.
        database_url=None,
        redis_url=None,
        kafka_bootstrap=None,
        db_schema="vq",
        topic_prefix="vq",
        redis_prefix="vq",
        kafka_partitions=PARTITIONS,
        kafka_heap=KAFKA_HEAP,
        kafka_libs=kafka_jars(),
        env="dev",
        public_url=f"http://127.0.0.1:{api}",
        # One client sends every command from one address: the limiter must refuse nothing.
        rate_limit_per_minute=1_000_000,
    )


def product_env(settings: Settings) -> dict[str, str]:
    """The environment of a `vq` process on these settings (the data folder too: the worker keeps
    its Faust folder there)."""
    return {**os.environ, **settings.environment(), "VQ_DATA_DIR": str(settings.data_dir)}


# What the shipped units say (deploy/systemd/vq-*.service): Restart=always, RestartSec=3s.
RESTART_SEC = 3.0


@dataclass(frozen=True, slots=True)
class Exit:
    name: str
    at: float  # time.monotonic()
    code: int
    expected: bool  # we killed it; otherwise it stopped on its own


class ProductProcess:
    """One `vq` process (api, relay, worker), its output appended to `<data>/logs/<name>.log`."""

    def __init__(self, settings: Settings, name: str, *args: str) -> None:
        self.name = name
        self.args = args
        self.env = product_env(settings)
        self.logfile = settings.data_dir / "logs" / f"{name}.log"
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0
        self.started_at = 0.0
        self.killing = False

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is running"
        self._close_log()
        self._log = self.logfile.open("ab")
        self._log.write(f"--- start {self.starts + 1} at {time.time():.3f}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vq.cli", *self.args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts += 1
        self.started_at = time.monotonic()

    def kill(self) -> None:
        """SIGKILL: no goodbye, no offset commit, no flush."""
        assert self.proc is not None and self.proc.poll() is None, f"{self.name} is not running"
        self.killing = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=15)

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def logged(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class Product:
    """The app processes as systemd runs them (one API, one relay, one worker: what `vq run`
    starts), each started again RESTART_SEC after it stops, whoever stopped it."""

    def __init__(self, settings: Settings) -> None:
        self.base = f"http://127.0.0.1:{settings.api_port}"
        self.parts = {
            "api": ProductProcess(settings, "api", "api", "--port", str(settings.api_port)),
            "relay": ProductProcess(settings, "relay", "relay"),
            "worker": ProductProcess(settings, "worker", "worker", "--loglevel", "warning"),
        }
        self.exits: list[Exit] = []

    def __getitem__(self, name: str) -> ProductProcess:
        return self.parts[name]

    def start(self) -> None:
        for part in self.parts.values():
            part.start()

    async def supervise(self, stop: asyncio.Event) -> None:
        """systemd's Restart=always, RestartSec=RESTART_SEC, until `stop`."""
        due: dict[str, float] = {}
        while not stop.is_set():
            now = time.monotonic()
            for name, part in self.parts.items():
                code = part.exited()
                if code is not None and name not in due:
                    self.exits.append(Exit(name, now, code, part.killing))
                    part.killing = False
                    due[name] = now + RESTART_SEC
                elif name in due and now >= due[name]:
                    del due[name]
                    part.start()
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        for part in self.parts.values():
            part.stop()

    async def wait_healthy(self, timeout: float = 60.0) -> float:
        """When the API answered /healthz (it may be stopped and started again meanwhile)."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=1.0) as http:
            while True:
                try:
                    if (await http.get(f"{self.base}/healthz")).status_code == 200:
                        return time.monotonic()
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, (
                    f"vq api did not answer /healthz:\n{self['api'].logged()[-3000:]}"
                )
                await asyncio.sleep(0.05)

    def tracebacks(self) -> dict[str, list[str]]:
        """The log lines around each traceback a process logged (plain or inside a JSON line)."""
        found: dict[str, list[str]] = {}
        for name, part in self.parts.items():
            lines = part.logged().splitlines()
            for n, line in enumerate(lines):
                if "Traceback" in line:
                    found.setdefault(name, []).append("\n".join(lines[n : n + 40])[:6000])
        return found


def _service(settings: Settings, name: str) -> Service:
    return stack.select(settings, [name])[0]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def kill_server(settings: Settings, name: str) -> int:
    """SIGKILL a server of the private stack; returns its pid.

    PostgreSQL dies whole, postmaster and backends at once (a machine or container that dies, a
    cgroup killed): killing the postmaster alone leaves its backends holding the shared memory,
    and a new postmaster refuses to start until they noticed and left.
    """
    service = _service(settings, name)
    pid = service.running_pid()
    assert pid is not None, f"{name} is not running"
    victims = [pid, *(_children(pid) if name == "postgresql" else [])]
    for victim in victims:
        with suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    assert procs.wait_until(lambda: not any(map(procs.alive, victims)), timeout=15), (
        f"{name} survived SIGKILL"
    )
    return pid


def start_servers(settings: Settings, names: list[str] | None = None) -> list[str]:
    """`vq stack up [names]` on the private settings: what an operator runs after a crash."""
    return stack.up(settings, names or [])


def stop_servers(settings: Settings) -> None:
    try:
        stack.down(settings)
    finally:
        for service in stack.select(settings):  # whatever `down` could not stop
            pid = service.running_pid()
            if pid is not None:
                procs.terminate(pid, grace=5)
