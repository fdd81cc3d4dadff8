"""Run PostgreSQL once on a restored data directory until its recovery is over, then stop it.

The server runs privately (no TCP, a socket in a temporary folder, a free port number) with the
recovery settings on its command line only, so nothing of the recovery stays in the data
directory: afterwards it is an ordinary cluster, cleanly shut down, on a new timeline, that
`vq stack up` (or any PostgreSQL of the same major) starts at once.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from deploy import procs
from deploy.backup import pg
from deploy.errors import StackError

_LAST_TX = re.compile(r"last completed transaction was at log time (.+)$")
Work = Callable[[str], None]  # given the promoted server's conninfo (superuser, "postgres")


@dataclass(frozen=True)
class Recovered:
    seconds: float
    last_transaction: datetime | None  # the newest commit replayed (None: none after the backup)
    timeline: int


def _settings(port: int, socket_dir: Path, wal: Path, target: datetime | None) -> list[str]:
    options = {
        "port": str(port),
        "listen_addresses": "",
        "unix_socket_directories": str(socket_dir),
        # Quiet when a file is not there: the server asks for files that may not exist (the next
        # timeline's history, the segment after the last) and that is how it learns the end.
        "restore_command": f"cp {shlex.quote(str(wal))}/%f %p 2>/dev/null",
        "recovery_target_timeline": "latest",
        "recovery_target_action": "promote",
        "archive_mode": "off",
        "logging_collector": "off",
    }
    if target is not None:
        options["recovery_target_time"] = target.isoformat()
    return [part for name, value in options.items() for part in ("-c", f"{name}={value}")]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def recover(
    bindir: Path,
    data: Path,
    wal: Path,
    target: datetime | None,
    log: Path,
    work: Work | None = None,
    timeout: float = 6 * 3600,
) -> Recovered:
    """Recover `data` (a base backup with recovery.signal) from the WAL files in `wal`; run
    `work` on the promoted server before stopping it."""
    started = time.monotonic()
    socket_dir = Path(tempfile.mkdtemp(prefix="vq-recover-"))
    try:
        pg.give_to_owner(socket_dir)
        port = _free_port()
        cmd = pg.as_owner(
            [bindir / "postgres", "-D", data, *_settings(port, socket_dir, wal, target)]
        )
        with log.open("ab") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        try:
            conninfo = make_conninfo(
                host=str(socket_dir), port=port, user="postgres", dbname="postgres"
            )
            timeline = _wait_promoted(proc, conninfo, log, timeout)
            if work is not None:
                work(conninfo)
        finally:
            _stop(proc, data)
    finally:
        with contextlib.suppress(OSError):
            for leftover in socket_dir.iterdir():
                leftover.unlink()
            socket_dir.rmdir()
    return Recovered(time.monotonic() - started, _last_transaction(log), timeline)


def _wait_promoted(proc: subprocess.Popen[bytes], conninfo: str, log: Path, timeout: float) -> int:
    """Wait until the server has left recovery; its new timeline."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise StackError(f"the recovery stopped: {_failure(log)}")
        if time.monotonic() > deadline:
            raise StackError(f"the recovery did not finish within {timeout:.0f}s; see {log}")
        with (
            contextlib.suppress(psycopg.OperationalError),
            psycopg.connect(conninfo, autocommit=True, connect_timeout=2) as conn,
        ):
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is not None and not row[0]:
                wal = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()
                return int(str(wal[0])[:8], 16) if wal else 0
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes], data: Path) -> None:
    """A fast shutdown (SIGINT to the postmaster): it writes a checkpoint, so the next start
    needs no recovery."""
    pid = procs.read_pid(data / "postmaster.pid")
    if pid is not None and procs.alive(pid):
        procs.terminate(pid, grace=120, sig=signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _failure(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()[-200:]
    for line in reversed(lines):
        if "recovery ended before configured recovery target was reached" in line:
            return "the backups end before the --to time (omit --to to restore the latest point)"
    for line in reversed(lines):
        if "FATAL" in line or "PANIC" in line or "ERROR" in line:
            return line.strip()
    return lines[-1].strip() if lines else f"no output; see {log}"


def _last_transaction(log: Path) -> datetime | None:
    for line in reversed(log.read_text(errors="replace").splitlines()):
        match = _LAST_TX.search(line)
        if match:
            text = match[1].strip()
            # PostgreSQL writes "2026-12-02 10:08:43.123456+00"
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(text)
    return None
