"""`vq backup status`: the base backups, the WAL, and the span a restore can reach.

The newest restorable moment is the last commit in the newest WAL file, read with `pg_waldump`
(a copy of the `.partial` file under its segment name, as a restore would use it). Exit 1 when
there is no base backup or no WAL. (An idle database writes no WAL: the age of the newest file
says nothing alone; whether the receiver streams is `pg_stat_replication` on the server.)
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

from deploy import procs
from deploy.backup import pg
from deploy.backup.folder import BackupFolder

_COMMIT = re.compile(r"desc: COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \w+)")


def last_commit(folder: BackupFolder) -> datetime | None:
    """The time of the newest commit in the WAL folder (the newest two files are read)."""
    files = folder.wal_files()
    for path in reversed(files[-2:]):
        found = _commits_in(path)
        if found:
            return found[-1]
    return None


def _commits_in(path: Path) -> list[datetime]:
    with tempfile.TemporaryDirectory(prefix="vq-waldump-") as tmp:
        copy = Path(tmp) / path.name.removesuffix(".partial")
        shutil.copyfile(path, copy)
        # pg_waldump stops with an error at the zero-filled end of a partial file: expected.
        out = procs.run([pg.bindir() / "pg_waldump", "--rmgr=Transaction", copy], timeout=120)
    moments = []
    for match in _COMMIT.finditer(out.text):
        stamp = match[1].replace(" UTC", "+00:00")
        try:
            moments.append(datetime.fromisoformat(stamp))
        except ValueError:
            continue
    return moments


def describe(folder: BackupFolder) -> tuple[list[str], bool]:
    lines = [f"backup folder {folder.root} (cluster {folder.system_id() or 'unknown'})"]
    backups = folder.backups()
    healthy = bool(backups)
    lines.append(f"base backups: {len(backups)}")
    for backup in backups:
        lines.append(
            f"  {backup.name}  {backup.bytes / 1e6:10,.1f} MB  finished {backup.finished_at}  "
            f"timeline {backup.timeline}  WAL from {backup.start_segment}"
        )
    files = folder.wal_files()
    if not files:
        lines.append("WAL: none (is `vq backup run` running?)")
        return lines, False
    size = sum(p.stat().st_size for p in files)
    age = time.time() - files[-1].stat().st_mtime
    lines.append(
        f"WAL: {len(files)} files, {files[0].name} .. {files[-1].name} ({size / 1e6:,.0f} MB); "
        f"the newest written {age:,.0f}s ago"
    )
    newest = last_commit(folder)
    if backups:
        lines.append(
            f"restorable: from {backups[0].finished_at} to "
            f"{newest.isoformat() if newest else 'the newest base backup'}"
        )
    else:
        lines.append("restorable: nothing yet (no base backup)")
    return lines, healthy
