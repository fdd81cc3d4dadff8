"""The app's processes (`vq api`, `vq relay`, `vq worker`) and what they cost: CPU and memory.

On 2 cores every process competes with every other, so each measured step also records how many
cores each part used (from /proc/<pid>/stat), which says more than a throughput figure alone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.env import subprocess_env
from core.settings import Settings

_TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    url: str | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(settings: Settings, name: str, args: list[str], logs: Path) -> Service:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vq.cli", *args],
        env=subprocess_env(settings),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    return Service(name, proc, log)


def start_api(settings: Settings, logs: Path, workers: int = 1, name: str = "api") -> Service:
    port = free_port()
    service = start(settings, name, ["api", "--port", str(port), "--workers", str(workers)], logs)
    service.url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise RuntimeError(f"the API exited; see {service.log}")
        try:
            if _serving(httpx.get(f"{service.url}/readyz", timeout=1)):
                return service
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    service.stop()
    raise TimeoutError(f"the API did not get ready; see {service.log}")


def _serving(answer: httpx.Response) -> bool:
    """Ready, or unready only for lag (a phase that starts no relay or worker on purpose, after
    filling the store directly, is measured by itself): PostgreSQL, Redis and Kafka answer."""
    if answer.status_code == 200:
        return True
    failing = set(answer.json().get("failing", ())) if answer.status_code == 503 else {"?"}
    return bool(failing) and failing <= {"relay_lag", "consumer_lag"}


# -- CPU and memory ------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command name, parent pid, CPU seconds used) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def cpu_seconds(pid: int) -> float:
    """The CPU seconds (user and kernel) a live process has used."""
    found = _stat(pid)
    if found is None:
        raise ProcessLookupError(pid)
    return found[2]


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


@dataclass
class CpuSnapshot:
    at: float
    by_part: dict[str, float] = field(default_factory=dict)


def _descendants(roots: Iterable[int], parents: dict[int, int]) -> set[int]:
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return found


class CpuMeter:
    """CPU seconds per part of the system: our processes by pid, the servers by name."""

    def __init__(self) -> None:
        self.roots: dict[str, set[int]] = {}

    def track(self, part: str, pid: int) -> None:
        self.roots.setdefault(part, set()).add(pid)

    def untrack(self, part: str) -> None:
        self.roots.pop(part, None)

    def snapshot(self) -> CpuSnapshot:
        stats = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (found := _stat(int(entry))) is not None:
                stats[int(entry)] = found
        parents = {pid: s[1] for pid, s in stats.items()}
        owner: dict[int, str] = {os.getpid(): "bench"}  # this process only, not its children
        for part, roots in self.roots.items():
            for pid in _descendants(roots, parents):
                owner.setdefault(pid, part)
        snap = CpuSnapshot(time.monotonic())
        for pid, (name, _, seconds) in stats.items():
            part = owner.get(pid) or _server_part(pid, name)
            snap.by_part[part] = snap.by_part.get(part, 0.0) + seconds
        return snap


def _server_part(pid: int, name: str) -> str:
    if name.startswith("postgres"):
        return "postgres"
    if name.startswith("redis-server"):
        return "redis"
    if name == "java" and "kafka" in _cmdline(pid):
        return "kafka"
    return "other"  # everything else on the box, e.g. other people's test runs


def cores_used(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """Cores each part used between two snapshots (1.0 = one core busy all the time)."""
    wall = max(after.at - before.at, 1e-9)
    parts = set(before.by_part) | set(after.by_part)
    used = {p: (after.by_part.get(p, 0.0) - before.by_part.get(p, 0.0)) / wall for p in parts}
    return {p: round(v, 2) for p, v in sorted(used.items(), key=lambda kv: -kv[1]) if v >= 0.01}


def wait_idle(pid: int, below: float = 0.15, timeout_s: float = 300) -> float:
    """Wait until a process uses less than `below` of a core over a second; returns the wait.

    An API that just started may be busy loading queues (its aging scheduler reads every
    queue): reads measured during that would measure the loading.
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        before = _stat(pid)
        time.sleep(1.0)
        after = _stat(pid)
        if before is None or after is None or after[2] - before[2] < below:
            break
    return round(time.monotonic() - started, 1)


def peak_rss_mb(pid: int) -> dict[str, float]:
    """VmHWM (resident-set high-water mark) in MB: the largest process of the tree and the sum."""
    parents = {
        int(e): s[1]
        for e in os.listdir("/proc")
        if e.isdigit() and (s := _stat(int(e))) is not None
    }
    peaks = []
    for member in _descendants([pid], parents):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    if not peaks:
        return {}
    return {
        "max_mb": round(max(peaks), 1),
        "total_mb": round(sum(peaks), 1),
        "processes": len(peaks),
    }
