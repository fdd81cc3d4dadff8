"""What every service of the native stack can do: be found, be checked, start, answer, stop."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from core.settings import Settings
from deploy import procs
from deploy.errors import StackError


@dataclass(frozen=True)
class Port:
    number: int
    setting: str  # the environment variable that moves it, e.g. VQ_REDIS_PORT

    def __str__(self) -> str:
        return str(self.number)


class Service(ABC):
    name: ClassVar[str]
    dirname: ClassVar[str]
    start_timeout: ClassVar[float] = 60.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root: Path = settings.data_dir.resolve() / self.dirname

    # -- identity ---------------------------------------------------------------------------------
    @abstractmethod
    def ports(self) -> list[Port]: ...

    @property
    @abstractmethod
    def pidfile(self) -> Path: ...

    @property
    @abstractmethod
    def workdir(self) -> Path:
        """The current directory of our process: what tells our instance from anyone else's."""

    @property
    @abstractmethod
    def marker(self) -> str:
        """A word in the process's command line (the program may rewrite it, so keep it short)."""

    def owns(self, pid: int) -> bool:
        if not procs.alive(pid):
            return False
        cwd = procs.cwd_of(pid)
        return (
            cwd is not None
            and cwd == self.workdir.resolve()
            and self.marker in " ".join(procs.cmdline_of(pid))
        )

    def running_pid(self) -> int | None:
        """Our live process: by its pid file, else by who listens on our port (pid file lost)."""
        pid = procs.read_pid(self.pidfile)
        if pid is not None and self.owns(pid):
            return pid
        for port in self.ports():
            for other in procs.listeners(port.number):
                if self.owns(other):
                    return other
        return None

    def stale_pid(self) -> int | None:
        """A pid in our pid file that is not (or no longer) our process."""
        pid = procs.read_pid(self.pidfile)
        return pid if pid is not None and not self.owns(pid) else None

    def conflict(self) -> str | None:
        """Why we cannot start: one of our ports is held by a program that is not our instance."""
        for port in self.ports():
            if not procs.listening(port.number):
                continue
            holders = [pid for pid in procs.listeners(port.number) if not self.owns(pid)]
            who = procs.describe(holders[0]) if holders else "a process we cannot inspect"
            return (
                f"port {port} for {self.name} is already in use by another program ({who}); "
                f"stop it or set {port.setting} to a free port"
            )
        return None

    # -- life cycle -------------------------------------------------------------------------------
    def missing_packages(self) -> list[str]:
        """Debian packages to install before `start` can work."""
        return []

    @abstractmethod
    def start(self) -> int:
        """Prepare the data folder if needed and launch the server; return its pid."""

    @abstractmethod
    def ready(self) -> bool:
        """Does the server answer a real request (not just accept a TCP connection)?"""

    def provision(self) -> str:
        """Create what the project needs in the running server; return a note for the summary."""
        return ""

    @abstractmethod
    def stop(self, pid: int) -> None: ...

    def wait_ready(self, pid: int) -> None:
        deadline = time.monotonic() + self.start_timeout
        while not self.ready():
            if not procs.alive(pid):
                raise StackError(
                    f"{self.name} exited during start-up: {self.failure_hint()}; "
                    f"see `vq stack logs {self.name}`"
                )
            if time.monotonic() > deadline:
                raise StackError(
                    f"{self.name} (pid {pid}) does not answer on {self.address()} after "
                    f"{self.start_timeout:.0f}s; see `vq stack logs {self.name}`, or run "
                    f"`vq stack down {self.name}` if it was started with other settings"
                )
            time.sleep(0.25)

    # -- presentation -----------------------------------------------------------------------------
    @abstractmethod
    def address(self) -> str:
        """Where clients connect, as they would write it."""

    @abstractmethod
    def log_files(self) -> list[Path]: ...

    def failure_hint(self) -> str:
        """The last error-looking line of the logs, to put in a one-line message."""
        for log in self.log_files():
            try:
                lines = log.read_text(errors="replace").splitlines()[-200:]
            except OSError:
                continue
            for line in reversed(lines):
                if any(word in line for word in ("ERROR", "FATAL", "Exception", "# ")):
                    return line.strip()[:300]
        return "no error in its log"
