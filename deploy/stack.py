"""`vq stack up|down|status|logs|clean`: the three services together, idempotently."""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from core.settings import Settings
from deploy import packages, procs
from deploy.errors import StackError
from deploy.kafka_broker import Kafka
from deploy.postgres import Postgres
from deploy.redis_server import Redis
from deploy.schema_registry import SchemaRegistry
from deploy.service import Service

SERVICE_NAMES = ("postgresql", "redis", "kafka", "registry")


def select(settings: Settings, names: Sequence[str] = ()) -> list[Service]:
    """The services named (all when none), always in start order."""
    unknown = sorted(set(names) - set(SERVICE_NAMES))
    if unknown:
        raise StackError(
            f"no service called {', '.join(unknown)}; choose from {', '.join(SERVICE_NAMES)}"
        )
    chosen = set(names) or set(SERVICE_NAMES)
    every: list[Service] = [
        Postgres(settings),
        Redis(settings),
        Kafka(settings),
        SchemaRegistry(settings),
    ]
    return [service for service in every if service.name in chosen]


@contextlib.contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """One `vq stack` command at a time per data folder (two `make test` in two shells)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with (settings.data_dir / ".stack.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("waiting for another `vq stack` command on this data folder...", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _line(service: Service, state: str, note: str = "") -> str:
    where = f"{service.address():<40}"
    data = f"data: {procs.shown(service.root)}"
    return f"{service.name:<11} {state:<5} {where} {data}" + (f"  ({note})" if note else "")


def up(settings: Settings, names: Sequence[str] = ()) -> list[str]:
    """Start what is not running, wait until everything answers, provision; return the summary."""
    services = select(settings, names)
    with _locked(settings):
        pids = {service.name: service.running_pid() for service in services}
        to_start = [service for service in services if pids[service.name] is None]
        # Check every port before starting anything, so a conflict leaves nothing half-started.
        for service in to_start:
            conflict = service.conflict()
            if conflict:
                raise StackError(conflict)
        packages.install([pkg for service in to_start for pkg in service.missing_packages()])
        procs.reserve_ports([port.number for service in services for port in service.ports()])
        # The JVMs first (Kafka, the registry): they boot while PostgreSQL and Redis start.
        for service in sorted(
            to_start, key=lambda service: service.name not in ("kafka", "registry")
        ):
            pids[service.name] = service.start()
        lines = []
        for service in services:
            pid = pids[service.name]
            assert pid is not None
            if service in to_start:
                print(f"waiting for {service.name} to answer on {service.address()}...", flush=True)
            service.wait_ready(pid)
            lines.append(_line(service, "up", service.provision()))
        return lines


def down(settings: Settings, names: Sequence[str] = ()) -> list[str]:
    lines = []
    with _locked(settings):
        for service in reversed(select(settings, names)):
            pid = service.running_pid()
            if pid is None:
                lines.append(f"{service.name:<11} was not running")
                continue
            print(f"stopping {service.name} (pid {pid})...", flush=True)
            service.stop(pid)
            if procs.alive(pid):
                raise StackError(f"{service.name} (pid {pid}) did not stop; kill it by hand")
            lines.append(f"{service.name:<11} stopped")
    return list(reversed(lines))


def status(settings: Settings, names: Sequence[str] = ()) -> tuple[list[str], bool]:
    lines, all_up = [], True
    for service in select(settings, names):
        pid = service.running_pid()
        if pid is not None and service.ready():
            lines.append(_line(service, "up", f"pid {pid}"))
            continue
        all_up = False
        if pid is not None:
            note = f"pid {pid} runs but does not answer"
        elif (conflict := service.conflict()) is not None:
            note = conflict
        elif (stale := service.stale_pid()) is not None:
            now = "now another program" if procs.alive(stale) else "gone"
            note = f"stale pid file: pid {stale} is {now}"
        else:
            note = "not running"
        lines.append(_line(service, "down", note))
    return lines, all_up


def logs(settings: Settings, name: str | None, lines: int, follow: bool) -> int:
    files = [
        log
        for service in select(settings, [name] if name else [])
        for log in service.log_files()
        if log.exists()
    ]
    if not files:
        raise StackError(f"no logs yet under {procs.shown(settings.data_dir)}; run `vq stack up`")
    cmd = ["tail", "-n", str(lines), *(["-F"] if follow else []), *map(str, files)]
    return subprocess.run(cmd, check=False).returncode


def create_topics(settings: Settings, wait: float) -> list[str]:
    """The project's topics on whatever Kafka the settings name (a container, a cluster)."""
    from deploy.topics import ensure_topics, kafka_answers

    where = settings.kafka_servers
    if not procs.wait_until(lambda: kafka_answers(where), timeout=wait, interval=1):
        raise StackError(
            f"Kafka at {where} did not answer within {wait:.0f}s; check VQ_KAFKA_BOOTSTRAP"
        )
    made = ensure_topics(
        settings,
        [
            settings.events_topic,
            settings.positions_topic,
            *settings.delivery_topics,
            settings.events_dead_letter_topic,
        ],
        settings.kafka_partitions,
    )
    return [
        f"{topic.name}: {topic.partitions} partitions" + (" (created)" if topic.created else "")
        for topic in made
    ]


def clean(settings: Settings, everything: bool) -> list[str]:
    """Delete the services' data (the Kafka jar cache too when `everything`)."""
    with _locked(settings):
        running = [service.name for service in select(settings) if service.running_pid()]
        if running:
            raise StackError(f"{', '.join(running)} still running; run `vq stack down` first")
        removed: list[Path] = []
        for service in select(settings):
            if service.root.exists():
                if isinstance(service, Kafka | SchemaRegistry) and not everything:
                    for part in (service.data, service.logs):
                        shutil.rmtree(part, ignore_errors=True)
                        removed.append(part)
                    continue
                shutil.rmtree(service.root)
                removed.append(service.root)
    return [f"removed {procs.shown(path)}" for path in removed]
