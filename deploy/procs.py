"""Processes and ports on Linux: who is alive, who listens where, and how to start a daemon.

Liveness is judged by a pid *and* by a port: a pid file can be stale (the process was killed with
SIGKILL, or the pid was reused), and a port can be held by somebody else's program.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy.errors import StackError

_TCP_LISTEN = "0A"


@dataclass(frozen=True)
class Output:
    returncode: int
    text: str

    def last_line(self, prefer: str = "") -> str:
        """The most telling line of a tool's output: the first one containing `prefer`, else the
        last non-empty one."""
        lines = [line.strip() for line in self.text.splitlines() if line.strip()]
        if prefer:
            for line in lines:
                if prefer in line:
                    return line
        return lines[-1] if lines else f"exit status {self.returncode}"


def run(
    cmd: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> Output:
    """Run a command to completion with stdout+stderr captured.

    Output goes to a temporary file rather than a pipe: a daemon started by the command (pg_ctl,
    redis-server) may inherit the descriptors and would keep a pipe open for ever.
    """
    args = [str(part) for part in cmd]
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as out:
        try:
            proc = subprocess.run(
                args,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise StackError(f"{args[0]} is not installed or not on PATH") from exc
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"{' '.join(args[:3])} did not finish within {timeout:.0f}s") from exc
        out.seek(0)
        return Output(proc.returncode, out.read())


def spawn_detached(cmd: Sequence[str | Path], *, cwd: Path, pidfile: Path, logfile: Path) -> int:
    """Start `cmd` in its own session, detached from us, stdout/stderr appended to `logfile`.

    `setsid -f` forks so the daemon is not our child (no zombie, no ResourceWarning for a Popen
    still running); the shell writes its own pid (which `exec` hands to the daemon) to `pidfile`.
    """
    pidfile.unlink(missing_ok=True)
    script = 'echo $$ > "$1"; log="$2"; shift 2; exec "$@" >>"$log" 2>&1 </dev/null'
    args = [
        "setsid",
        "-f",
        "sh",
        "-c",
        script,
        "sh",
        str(pidfile),
        str(logfile),
        *[str(part) for part in cmd],
    ]
    subprocess.run(
        args,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    if not wait_until(lambda: read_pid(pidfile) is not None, timeout=10):
        raise StackError(f"could not start {cmd[0]}: no pid written to {pidfile}")
    pid = read_pid(pidfile)
    assert pid is not None
    return pid


def read_pid(pidfile: Path) -> int | None:
    """The pid on the first line of a pid file (PostgreSQL's postmaster.pid has more lines)."""
    try:
        first = pidfile.read_text().split("\n", 1)[0].strip()
    except (FileNotFoundError, PermissionError):
        return None
    return int(first) if first.isdigit() else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie still answers kill(0) but is dead for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def cwd_of(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def cmdline_of(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def describe(pid: int) -> str:
    cmd = " ".join(cmdline_of(pid))
    if len(cmd) > 80:
        cmd = cmd[:77] + "..."
    return f"pid {pid}: {cmd}" if cmd else f"pid {pid}"


def _listen_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on `port` on any address, or None when /proc/net is unreadable."""
    inodes: set[str] = set()
    found_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        found_table = True
        for line in lines:
            fields = line.split()
            if (
                len(fields) > 9
                and fields[3] == _TCP_LISTEN
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    return inodes if found_table else None


def listening(port: int, host: str = "127.0.0.1") -> bool:
    inodes = _listen_inodes(port)
    if inodes is not None:
        return bool(inodes)
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def listeners(port: int) -> list[int]:
    """Pids of the processes holding a listening socket on `port` (those we may inspect)."""
    inodes = _listen_inodes(port)
    if not inodes:
        return []
    wanted = {f"socket:[{inode}]" for inode in inodes}
    pids: list[int] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                if os.readlink(fd) in wanted:
                    pids.append(int(proc.name))
                    break
    return pids


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def terminate(pid: int, *, grace: float, sig: signal.Signals = signal.SIGTERM) -> None:
    """Send `sig` (SIGTERM), wait up to `grace` seconds, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    if wait_until(lambda: not alive(pid), timeout=grace):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid), timeout=10)


def shown(path: Path) -> str:
    """A path as the user should see it: relative to the current directory when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


RESERVED_PORTS = Path("/proc/sys/net/ipv4/ip_local_reserved_ports")


def reserve_ports(ports: Sequence[int]) -> bool:
    """Keep the kernel from handing `ports` out as the source port of outgoing connections.

    Our servers listen on ports inside Linux's ephemeral range (32768-60999). While one is down
    (an outage, a restart), a client retrying `connect(127.0.0.1:P)` may be given P itself as
    its source port and connect to itself (TCP simultaneous open): the port is then held and
    the server cannot start again ("Address already in use"). Reserved ports are never chosen
    as source ports. Needs root (a service manager's job in production); False where refused.
    """
    try:
        current = RESERVED_PORTS.read_text().strip()
        known = {p for part in current.split(",") if part for p in _port_range(part)}
        missing = sorted(set(ports) - known)
        if not missing:
            return True
        joined = ",".join([current, *map(str, missing)] if current else map(str, missing))
        RESERVED_PORTS.write_text(joined)
    except OSError:
        return False
    return True


def _port_range(part: str) -> range:
    low, _, high = part.strip().partition("-")
    return range(int(low), int(high or low) + 1)
