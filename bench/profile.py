"""Where a process spends its CPU: py-spy in raw (collapsed) mode, summarised to top frames.

py-spy samples the process from outside (no code change, `--nonblocking`: the process is not
paused), so it can profile the API under load. Idle samples (the event loop waiting in epoll)
are not recorded, so the sample count over rate x seconds is the share of a core it used.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

RATE_HZ = 100
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    def __init__(self, pid: int, seconds: float, out: Path) -> None:
        binary = py_spy()
        self.out = out
        self.seconds = seconds
        self.started = time.monotonic()
        self.proc = (
            None
            if binary is None
            else subprocess.Popen(
                [
                    binary,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(max(1, round(seconds))),
                    "--rate",
                    str(RATE_HZ),
                    "--format",
                    "raw",
                    "--output",
                    str(out),
                    "--nonblocking",
                    "--subprocesses",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        )

    def result(self, top: int = 25) -> dict[str, Any] | None:
        if self.proc is None:
            return None
        _, err = self.proc.communicate(timeout=self.seconds + 60)
        if not self.out.exists():
            return {"error": err.decode(errors="replace")[-300:]}
        elapsed = min(time.monotonic() - self.started, self.seconds)
        return summarise(self.out.read_text(), elapsed, top)

    def stop(self, top: int = 25) -> dict[str, Any] | None:
        """End the recording now (py-spy writes what it has on SIGINT) and summarise it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.result(top)


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['func']} ({path.removeprefix('/work/main/')})"


# Self time by component: the innermost frame whose file matches decides (first rule wins).
COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("PostgreSQL driver (psycopg, pool)", ("psycopg/", "psycopg_pool/", "psycopg_binary/")),
    ("Redis client", ("redis/",)),
    ("Kafka client (aiokafka, faust)", ("aiokafka/", "faust/", "mode/", "kafka/")),
    ("domain (decide, evolve)", ("domain/",)),
    ("event store code", ("eventstore/",)),
    ("schemas (Avro, mapping)", ("schemas/", "fastavro/")),
    ("read models (projections)", ("projections/", "streams/")),
    ("service layer", ("service_layer/",)),
    ("routes and the HTTP floor", ("command_api/", "query_api/", "http_api/")),
    ("notifications (our code)", ("notifications/",)),
    ("outbound HTTP client (httpx, httpcore, h11)", ("httpx/", "httpcore/", "h11/")),
    ("SMTP client (aiosmtplib)", ("aiosmtplib/",)),
    ("building emails (stdlib email)", ("(email/",)),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("JSON", ("json/",)),
    ("FastAPI/Starlette (routing, deps, middleware)", ("fastapi/", "starlette/", "anyio/")),
    ("uvicorn + httptools", ("uvicorn/", "httptools/")),
    ("threads (sync deps in the thread pool)", ("threading.py", "queue.py", "concurrent/futures/")),
    ("asyncio / event loop", ("asyncio/", "uvloop/", "selectors.py")),
    ("uuid", ("uuid.py",)),
)


def _component(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, markers in COMPONENTS:
            if any(marker in frame for marker in markers):
                return name
    return "other"


def summarise(raw: str, seconds: float, top: int = 25) -> dict[str, Any]:
    """Top frames by self time and by inclusive time, in % of the samples taken."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(f) for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        parts[_component(frames)] += count
        for name in set(frames):
            inclusive[name] += count

    def pct(n: int) -> float:
        return round(100 * n / max(total, 1), 1)

    return {
        "samples": total,
        "cores_busy": round(total / (RATE_HZ * seconds), 2),
        "components": [[name, pct(n)] for name, n in parts.most_common()],
        "self": [[name, pct(n)] for name, n in own.most_common(top)],
        "inclusive": [[name, pct(n)] for name, n in inclusive.most_common(top * 2)],
    }
