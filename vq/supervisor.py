"""Keep `vq run`'s app processes running, as systemd or Kubernetes would on one machine.

A child that dies is started again after a back-off: 0.5 s, then doubling to at most 30 s; a child
that stayed up 60 s before dying starts again from 0.5 s. Each death is a line naming the child,
its exit code or signal and when it comes back, on the console, in `<logs>/run.log` and in the
child's own log (where its last words are).

A child that keeps failing (5 exits within 60 s) is reported loudly, with the last lines of its
log, once per episode, and is still retried with the back-off, forever. Giving up (supervisord's
FATAL) would leave the product down after a dependency's outage outlasted the retries: a worker
crashing while Kafka restarts must come back by itself when Kafka does, as under Kubernetes'
CrashLoopBackOff. A human is needed only for what never heals (a bad setting, a taken port), and
the loud report says where to look.

Only a stop that was asked for (Ctrl-C, SIGTERM, SIGHUP) stops everything: each child gets
SIGTERM, `stop_grace_s` to finish, then SIGKILL (its whole process group, so no grandchild is left
holding a port).

What runs is kept in `<data_dir>/run.json` (pids, starts, restarts, last exit): an operator's
`cat`, a test's way to find a child, and how the next `vq run` finds the leftovers of one that was
killed with SIGKILL (children live in sessions of their own and outlive it): it stops them first.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

Clock = Callable[[], float]
LOG_TAIL_LINES = 12  # of a crash-looping child's log, in the loud report


@dataclass(frozen=True, slots=True)
class Policy:
    """When a dead child starts again, and when its deaths are a crash loop."""

    first_delay_s: float = 0.5
    max_delay_s: float = 30.0
    # Up this long, a child is healthy again: its next death starts the back-off anew.
    stable_after_s: float = 60.0
    # This many exits within `loop_window_s`: a crash loop, reported loudly.
    loop_exits: int = 5
    loop_window_s: float = 60.0
    # SIGTERM, then this long to finish, then SIGKILL (the API alone needs 5 s for its requests).
    stop_grace_s: float = 15.0

    def delay(self, failures: int) -> float:
        """Seconds before the restart after `failures` deaths in a row (1 for the first)."""
        return min(self.max_delay_s, self.first_delay_s * 2.0 ** max(0, failures - 1))


@dataclass(frozen=True, slots=True)
class ChildSpec:
    name: str
    argv: tuple[str, ...]
    env: dict[str, str]


@dataclass
class _Child:
    spec: ChildSpec
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0  # monotonic
    started_at: str = ""  # wall clock, for people
    failures: int = 0  # deaths in a row, each within `stable_after_s` of its start
    restarts: int = 0
    restart_at: float | None = None  # monotonic; set while it waits out its back-off
    exits: deque[float] = field(default_factory=deque)  # monotonic times of recent exits
    looping: bool = False  # reported as crash-looping in this episode
    last_exit: str | None = None


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


class Supervisor:
    """The children of one `vq run`. Not thread-safe: one loop calls `poll` (and `stop`)."""

    def __init__(
        self,
        logs: Path,
        state_file: Path,
        policy: Policy | None = None,
        clock: Clock = time.monotonic,
        console: IO[str] | None = None,
    ) -> None:
        self.logs = logs
        self.state_file = state_file
        self.policy = policy or Policy()
        self._clock = clock
        self._console = console or sys.stderr
        self._children: dict[str, _Child] = {}
        self._stopping = False

    # What runs

    def start(self, spec: ChildSpec) -> None:
        """Start a child now (and keep it running until `stop`)."""
        child = self._children[spec.name] = _Child(spec)
        self._spawn(child)

    def pid(self, name: str) -> int | None:
        child = self._children.get(name)
        return None if child is None or child.proc is None else child.proc.pid

    def alive(self, name: str) -> bool:
        child = self._children.get(name)
        return child is not None and child.proc is not None and child.proc.poll() is None

    def say(self, line: str, child: str | None = None) -> None:
        """A supervision line, timestamped: on the console, in run.log and in the child's log."""
        text = f"{_now()} vq run: {line}"
        print(text, file=self._console, flush=True)
        for name in ("run", *([child] if child else [])):
            with (self.logs / f"{name}.log").open("a", encoding="utf-8") as log:
                log.write(text + "\n")

    # The loop

    def poll(self) -> None:
        """Notice deaths and start whoever's back-off is over; call it a few times a second."""
        if self._stopping:
            return
        now = self._clock()
        for child in self._children.values():
            if child.proc is not None and child.proc.poll() is not None:
                self._died(child, child.proc, now)
            elif child.restart_at is not None and now >= child.restart_at:
                self._spawn(child)
                self.say(
                    f"{child.spec.name} started again (pid {self.pid(child.spec.name)}, "
                    f"restart {child.restarts})",
                    child.spec.name,
                )

    def _died(self, child: _Child, proc: subprocess.Popen[bytes], now: float) -> None:
        name, up = child.spec.name, now - child.started
        _kill_group(proc.pid)  # what it started dies with it (a uvicorn worker holds the port)
        child.proc = None
        child.last_exit = f"{describe_exit(proc.returncode)} at {_now()}"
        if up >= self.policy.stable_after_s:
            child.failures, child.looping = 0, False
        child.failures += 1
        child.restarts += 1
        delay = self.policy.delay(child.failures)
        child.restart_at = now + delay
        child.exits.append(now)
        while child.exits and child.exits[0] < now - self.policy.loop_window_s:
            child.exits.popleft()
        self.say(
            f"{name} (pid {proc.pid}) {describe_exit(proc.returncode)} after {up:.1f} s up; "
            f"restarting it in {delay:g} s (restart {child.restarts}; see {self.logs}/{name}.log)",
            name,
        )
        if len(child.exits) >= self.policy.loop_exits and not child.looping:
            child.looping = True
            self._report_loop(child, delay)
        self._write_state()

    def _report_loop(self, child: _Child, delay: float) -> None:
        name, policy = child.spec.name, self.policy
        log = self.logs / f"{name}.log"
        tail = _tail(log, LOG_TAIL_LINES)
        self.say(
            f"*** {name} KEEPS FAILING: {len(child.exits)} exits within {policy.loop_window_s:g} s "
            f"(last: {child.last_exit}). It is still restarted, in {delay:g} s, then at most "
            f"every {policy.max_delay_s:g} s, until it stays up {policy.stable_after_s:g} s or "
            f"`vq run` is stopped. The end of {log}:\n"
            + "\n".join(f"    | {line}" for line in tail),
        )

    def _spawn(self, child: _Child) -> None:
        child.restart_at = None
        with (self.logs / f"{child.spec.name}.log").open("ab") as log:
            child.proc = subprocess.Popen(
                list(child.spec.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child.spec.env,
                # Its own session and process group: Ctrl-C reaches `vq run` alone, which stops
                # the children in order; a group is what SIGKILL clears at the end.
                start_new_session=True,
            )
        child.started, child.started_at = self._clock(), _now()
        self._write_state()

    # Stopping

    def stop(self, hurry: Callable[[], bool] = lambda: False) -> None:
        """SIGTERM every child, wait up to the grace (or until `hurry()`), SIGKILL the rest."""
        self._stopping = True
        procs = {n: c.proc for n, c in self._children.items() if c.proc is not None}
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.policy.stop_grace_s
        while time.monotonic() < deadline and not hurry():
            if all(proc.poll() is not None for proc in procs.values()):
                break
            time.sleep(0.05)
        for name, proc in procs.items():
            if proc.poll() is None:
                self.say(f"{name} (pid {proc.pid}) did not stop in time: SIGKILL", name)
                _kill_group(proc.pid)
                proc.wait()
            else:
                _kill_group(proc.pid)
        self.state_file.unlink(missing_ok=True)

    def _write_state(self) -> None:
        children = {
            name: {
                "pid": None if child.proc is None else child.proc.pid,
                "argv": list(child.spec.argv),
                "started_at": child.started_at,
                "restarts": child.restarts,
                "last_exit": child.last_exit,
            }
            for name, child in self._children.items()
        }
        state = {"pid": os.getpid(), "argv": _cmdline(os.getpid()), "children": children}
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2) + "\n")
        temporary.replace(self.state_file)  # readers see the old state or the new, never half


def stop_leftovers(state_file: Path, say: Callable[[str], None], grace_s: float = 15.0) -> None:
    """Before a new `vq run` starts: refuse if another is running; stop the children that one
    killed with SIGKILL left behind (each only if its pid still runs the command it ran)."""
    try:
        state: dict[str, Any] = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return
    if state.get("pid") != os.getpid() and _runs(state.get("pid"), state.get("argv")):
        raise SystemExit(
            f"vq run: another `vq run` is running (pid {state['pid']}, see {state_file}); "
            "stop it first (Ctrl-C in its terminal, or kill it)"
        )
    left = {
        name: child["pid"]
        for name, child in state.get("children", {}).items()
        if _runs(child.get("pid"), child.get("argv"))
    }
    if left:
        listed = ", ".join(f"{name} (pid {pid})" for name, pid in left.items())
        say(f"stopping what an earlier `vq run` that did not stop cleanly left running: {listed}")
        for pid in left.values():
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(_exists(pid) for pid in left.values()):
            time.sleep(0.1)
        for pid in left.values():
            _kill_group(pid)
            _signal(pid, signal.SIGKILL)
    state_file.unlink(missing_ok=True)


# Processes, by pid (Linux's /proc tells a pid's command line: a reused pid is not ours)


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]


def _runs(pid: object, argv: object) -> bool:
    return isinstance(pid, int) and isinstance(argv, list) and bool(argv) and _cmdline(pid) == argv


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (dead, not reaped by its parent yet) is gone for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _kill_group(pgid: int) -> None:
    """SIGKILL what is left of a child's process group (the child led it: start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _tail(path: Path, lines: int) -> list[str]:
    try:
        with path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 64 * 1024))
            text = log.read().decode(errors="replace")
    except OSError:
        return ["(no log)"]
    # The child's own words: the supervisor's lines about it are in the report already.
    return [line for line in text.splitlines() if " vq run: " not in line][-lines:]
