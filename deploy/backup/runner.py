"""`vq backup run`: stream the WAL continuously and take a base backup every so often.

The receiver starts first and a base backup is taken only once it streams, so the WAL from that
backup's start onwards is in the folder: any moment after the first backup is restorable. A
receiver that dies is restarted with back-off (a line each time); a failed base backup is tried
again later; old base backups and the WAL only they needed are pruned (`--keep`). Stops on
SIGINT/SIGTERM (the receiver flushes what it has first).
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from deploy.backup import base, pg, stream
from deploy.backup.folder import BackupFolder
from deploy.errors import StackError

Say = Callable[[str], None]
RETRY_BACKUP_S = 300.0


@dataclass(frozen=True)
class Schedule:
    every_s: float  # between two base backups
    keep: int  # base backups kept


def _connect(src: pg.Source, stop: threading.Event, say: Say) -> pg.Identity | None:
    """Identify the server, waiting for it if it is down (a start before PostgreSQL's)."""
    delay = 1.0
    while not stop.is_set():
        try:
            return pg.identify(src)
        except StackError as exc:
            say(f"waiting for PostgreSQL: {exc.message}; retrying in {delay:.0f}s")
            stop.wait(delay)
            delay = min(delay * 2, 30.0)
    return None


class _BaseBackups:
    """Base backups in a thread of their own, so the receiver stays supervised meanwhile."""

    def __init__(self, src: pg.Source, folder: BackupFolder, schedule: Schedule, say: Say) -> None:
        self.src, self.folder, self.schedule, self.say = src, folder, schedule, say
        self.thread: threading.Thread | None = None
        self.next_try = 0.0

    def due(self) -> bool:
        if self.thread is not None and self.thread.is_alive():
            return False
        if time.monotonic() < self.next_try:
            return False
        backups = self.folder.backups()
        if not backups:
            return True
        age = datetime.now(UTC) - datetime.fromisoformat(backups[-1].started_at)
        return age.total_seconds() >= self.schedule.every_s

    def start(self) -> None:
        self.thread = threading.Thread(target=self._take, name="base-backup", daemon=True)
        self.thread.start()

    def _take(self) -> None:
        self.say("taking a base backup...")
        started = time.monotonic()
        try:
            made = base.take(self.src, self.folder)
        except StackError as exc:
            self.say(f"base backup failed: {exc.message}; trying again in {RETRY_BACKUP_S:.0f}s")
            self.next_try = time.monotonic() + RETRY_BACKUP_S
            return
        self.say(
            f"base backup {made.name}: {made.bytes / 1e6:,.1f} MB in "
            f"{time.monotonic() - started:.1f}s"
        )
        for line in self.folder.prune(self.schedule.keep):
            self.say(f"pruned {line}")


def run(
    src: pg.Source, folder: BackupFolder, schedule: Schedule, stop: threading.Event, say: Say
) -> int:
    ident = _connect(src, stop, say)
    if ident is None:
        return 0
    folder.prepare(ident.system_id, ident.timeline)
    with _only_runner(folder):
        return _supervise(src, folder, schedule, stop, say)


def _moved_on(src: pg.Source, folder: BackupFolder) -> str | None:
    """Why this folder must not take the server's WAL any more (the data directory under it was
    replaced by a restore: another timeline), or None; a server that is down says nothing."""
    try:
        ident = pg.identify(src)
    except StackError:
        return None  # the restarts' back-off waits for it
    try:
        folder.prepare(ident.system_id, ident.timeline)
    except StackError as exc:
        return exc.message
    return None


@contextlib.contextmanager
def _only_runner(folder: BackupFolder) -> Iterator[None]:
    """One `vq backup run` per folder (two would fight over the slot and the WAL files)."""
    with (folder.root / ".run.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StackError(f"another `vq backup run` is using {folder.root}") from None
        yield


def _supervise(
    src: pg.Source, folder: BackupFolder, schedule: Schedule, stop: threading.Event, say: Say
) -> int:
    for path in folder.remove_partial_backups():
        say(f"removed {path.name}, left by a base backup that did not finish")
    stream.ensure_slot(src)
    receiver = stream.Receiver(src, folder)
    receiver.start()
    if receiver.wait_streaming(30):
        say(f"streaming WAL from {src.shown()} into {folder.wal} (slot {pg.SLOT})")
    else:
        say("the WAL receiver is not streaming yet; base backups wait for it")
    backups = _BaseBackups(src, folder, schedule, say)
    delay = 1.0
    try:
        while not stop.is_set():
            status = receiver.exited()
            if status is not None:
                say(f"pg_receivewal exited with status {status}; restarting in {delay:.0f}s")
                if (moved := _moved_on(src, folder)) is not None:
                    say(f"stopping: {moved}")
                    return 1
                if stop.wait(delay):
                    break
                delay = min(delay * 2, 30.0)
                receiver.start()
            elif time.monotonic() - receiver.started_at > 60:
                delay = 1.0  # it has been streaming for a while: the next failure starts afresh
            if receiver.streaming() and backups.due():
                backups.start()
            stop.wait(0.5)
    finally:
        receiver.stop()
    return 0
