"""`vq backup status`: the base backups, the WAL, and the span a restore can reach.

The span starts at the first base backup's end (`info.json`'s finished_at, taken when
pg_basebackup returned: what `vq restore --to` chooses by). It ends at the last commit in the
newest WAL files, read with `pg_waldump` (a copy of the `.partial` file under its segment name, as
a restore would use it), or at the newest base backup's end when nothing was committed since (the
WAL's last commit is then older than the backup, which holds it). Exit 1 when
there is no base backup or no WAL. (An idle database writes no WAL: the age of the newest file
says nothing alone; whether the receiver streams is `pg_stat_replication` on the server.)
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

from deploy import procs
from deploy.backup import pg
from deploy.backup.folder import BackupFolder, BaseBackup

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
        # It writes times in its own time zone's abbreviation ("CET"): UTC is the one we read.
        out = procs.run(
            [pg.bindir() / "pg_waldump", "--rmgr=Transaction", copy],
            env={**os.environ, "TZ": "UTC"},
            timeout=120,
        )
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
    if backups:
        lines.append(f"restorable: {span(backups, last_commit(folder))}")
    else:
        lines.append("restorable: nothing yet (no base backup)")
    lines += _timelines_warning(folder, backups)
    return lines, healthy


def span(backups: list[BaseBackup], newest_commit: datetime | None) -> str:
    """From the first base backup's end to the newest moment a restore reaches: the newest
    commit streamed, or the newest base backup's end when nothing was committed since (right
    after a base backup, the WAL's newest commit is older than the backup: everything committed
    before its end is in it, so its end is restorable too)."""
    start, newest = backups[0].finished, backups[-1].finished
    if newest_commit is not None and newest_commit > newest:
        end = f"{newest_commit.isoformat()} (the newest commit)"
    else:
        end = f"{newest.isoformat()} (nothing committed since the newest base backup)"
    return f"from {start.isoformat()} to {end}"


def _timelines_warning(folder: BackupFolder, backups: list[BaseBackup]) -> list[str]:
    """A folder that took a restored server's WAL beside the old one's (before `vq backup run`
    refused to): which base backup restores which timeline."""
    held = folder.timelines()
    if len(held) < 2:
        return []
    lines = [
        f"WARNING: timelines {', '.join(map(str, held))} in one folder: a restore or a "
        f"promotion began timeline {held[-1]}, and its WAL was streamed here beside the older "
        "one's. Back up into a new folder (`vq backup run --to NEWDIR`); keep this one until "
        "that has a base backup."
    ]
    for timeline in held:
        names = [b.name for b in backups if b.timeline == timeline]
        made = ("base backups " + ", ".join(names)) if names else "no base backup"
        reach = (
            "restores the restored server, from its base backup on"
            if timeline == held[-1]
            else f"restores the moments before timeline {held[-1]} began"
        )
        lines.append(f"  timeline {timeline}: {made}: {reach}")
    return lines
