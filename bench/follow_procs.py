"""The live-followers phase's processes and meters: the follower processes of a step
(bench/follow_client.py), the API's resident memory over a step, Redis's connections."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from bench import procs
from core.settings import Settings

CLIENTS = 2  # follower processes
CONNECT_RATE = 500.0  # connects/s, all clients together: well under the listen backlog


def status_mb(pid: int, field: str) -> float | None:
    """A /proc/<pid>/status memory field (VmRSS, VmHWM) in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


class RssSampler:
    """The largest VmRSS of a process over a while (sampled every 0.5 s in a thread)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, status_mb(self.pid, "VmRSS") or 0.0)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak, status_mb(self.pid, "VmRSS") or 0.0)


def redis_connections(settings: Settings, api_pid: int | None = None) -> dict[str, int]:
    """Redis's clients (everyone's: other processes share this server) and the API's own: those
    of the API process `api_pid` (vq/api.py names them `vq-api:<prefix>:<pid>`), else of every
    API process on the prefix."""
    import redis

    client = redis.Redis.from_url(settings.redis_dsn)
    base = f"vq-api:{settings.redis_prefix}:"
    own = {f"{base}{api_pid}", f"{base}{api_pid}:live"}
    try:
        info = client.info("clients")
        mine = [
            c
            for c in client.client_list()
            if (str(c.get("name", "")) in own)
            or (api_pid is None and str(c.get("name", "")).startswith(base))
        ]
    finally:
        client.close()
    return {
        "connected_clients": int(info["connected_clients"]),
        "api": len(mine),
        "api_pubsub": sum(1 for c in mine if int(c.get("psub", 0)) or int(c.get("sub", 0))),
    }


class Clients:
    """The follower processes of one step: open, report connected, close on `stop`."""

    def __init__(
        self, url: str, specs: list[list[str]], folder: Path, meter: procs.CpuMeter
    ) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.meter = meter
        self.outs: list[Path] = []
        self.procs: list[subprocess.Popen[str]] = []
        count = min(CLIENTS, max(len(specs), 1))
        for index in range(count):
            config, out = folder / f"client{index}.json", folder / f"seen{index}.json"
            part = specs[index::count]
            config.write_text(
                json.dumps(
                    {
                        "host": host,
                        "port": int(port),
                        "rate": CONNECT_RATE / count,
                        "followers": part,
                        "out": str(out),
                    }
                )
            )
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.follow_client", str(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            self.procs.append(proc)
            self.outs.append(out)
            meter.track("followers", proc.pid)

    def connected(self) -> list[dict[str, Any]]:
        found = []
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith("connected "):
                raise RuntimeError(f"a follower process failed ({proc.poll()}): {line!r}")
            found.append(json.loads(line.removeprefix("connected ")))
        return found

    def stop(self) -> tuple[list[list[Any]], float]:
        """Close every follower; returns their rows and the CPU seconds the processes used."""
        rows: list[list[Any]] = []
        cpu = 0.0
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write("stop\n")
            proc.stdin.flush()
        for proc, out in zip(self.procs, self.outs, strict=True):
            if proc.wait(timeout=120) != 0:
                raise RuntimeError(f"a follower process failed with {proc.returncode}")
            result = json.loads(out.read_text())
            rows += result["followers"]
            cpu += result["cpu_s"]
        self.meter.untrack("followers")
        return rows, cpu

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.meter.untrack("followers")
