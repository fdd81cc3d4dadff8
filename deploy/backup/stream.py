"""The WAL receiver: `pg_receivewal` streaming into the backup folder through a replication slot.

Why streaming and not `archive_command`: the archiver copies a WAL file only once it is full
(16 MB) or `archive_timeout` forces a switch, so what a lost disk costs is "the current file",
up to that timeout (and a short timeout writes a mostly-empty 16 MB file each time). The receiver
gets each record as it is flushed and, with `--synchronous`, fsyncs it at once: a lost disk costs
only what was committed in the last instant (measured by `make drill`). The slot makes the server
keep WAL the receiver has not got (e.g. while `vq backup run` is restarted), up to
max_slot_wal_keep_size; the newest file is `<segment>.partial` until it is full.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time

from deploy.backup import pg
from deploy.backup.folder import BackupFolder
from deploy.errors import StackError


def ensure_slot(src: pg.Source) -> None:
    out = pg.run_tool(
        src,
        [
            pg.bindir() / "pg_receivewal",
            "-d",
            src.conninfo,
            f"--slot={pg.SLOT}",
            "--create-slot",
            "--if-not-exists",
        ],
        timeout=60,
    )
    if out.returncode != 0:
        raise StackError(f"cannot create the replication slot {pg.SLOT}: {out.last_line('error')}")


class Receiver:
    """One `pg_receivewal` process at a time; its messages go to our stderr (the journal)."""

    def __init__(self, src: pg.Source, folder: BackupFolder) -> None:
        self.src = src
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> None:
        cmd = [
            str(pg.bindir() / "pg_receivewal"),
            "-d",
            self.src.conninfo,
            "-D",
            str(self.folder.wal),
            f"--slot={pg.SLOT}",
            "--synchronous",
            "--no-loop",  # we restart it, with back-off and a line in our log
        ]
        self.proc = subprocess.Popen(cmd, env=self.src.env(), stdin=subprocess.DEVNULL)
        self.started_at = time.monotonic()

    def exited(self) -> int | None:
        """The exit status of a receiver that stopped, None while it runs (or never ran)."""
        return None if self.proc is None else self.proc.poll()

    def streaming(self) -> bool:
        return self.exited() is None and any(
            p.suffix == ".partial" for p in self.folder.wal_files()
        )

    def wait_streaming(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.streaming():
                return True
            if self.exited() is not None:
                return False
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        """SIGTERM: pg_receivewal flushes what it has and exits."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
