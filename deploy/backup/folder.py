"""The backup folder: what is in it, and what may be deleted.

    DIR/cluster.json             the cluster's system identifier: one folder, one cluster
    DIR/base/<UTC time>/         base.tar.zst, pg_wal.tar.zst, backup_manifest, info.json
    DIR/base/.partial-<time>/    a base backup being taken (or one that died: removed)
    DIR/wal/                     WAL segments; the newest is `<segment>.partial` while streaming

A base backup counts only once its info.json is written (the last step): a folder without one is
never restored from. Everything here may be copied elsewhere (rsync, an object store's sync) at
any time: finished files never change.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from deploy.errors import StackError

SEGMENT = re.compile(r"^[0-9A-F]{24}(\.partial)?$")
INFO = "info.json"


@dataclass(frozen=True)
class BaseBackup:
    name: str
    started_at: str  # ISO 8601, UTC: before pg_basebackup started
    finished_at: str  # after it finished: every commit before this is in it or in the WAL
    system_id: str
    timeline: int
    start_lsn: int
    end_lsn: int
    start_segment: str  # the first WAL file a restore from it needs
    bytes: int
    pg_version: str

    @property
    def finished(self) -> datetime:
        return datetime.fromisoformat(self.finished_at)


class BackupFolder:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.base = self.root / "base"
        self.wal = self.root / "wal"

    def prepare(self, system_id: str, timeline: int | None = None) -> None:
        """Create the layout; refuse a folder that holds another cluster's backups, or another
        timeline's (`timeline`: the server's now)."""
        self.base.mkdir(parents=True, exist_ok=True)
        self.wal.mkdir(exist_ok=True)
        identity = self.root / "cluster.json"
        if identity.exists():
            known = json.loads(identity.read_text()).get("system_id")
            if known != system_id:
                raise StackError(
                    f"{self.root} holds backups of another cluster (system identifier {known}, "
                    f"this one is {system_id}); give another --to folder"
                )
        else:
            identity.write_text(json.dumps({"system_id": system_id}) + "\n")
        if timeline is not None:
            self.check_timeline(timeline)

    def timelines(self) -> list[int]:
        """The timelines of the base backups and WAL segments here, lowest first."""
        found = {backup.timeline for backup in self.backups()}
        found |= {int(path.name[:8], 16) for path in self.wal_files()}
        return sorted(found)

    def check_timeline(self, timeline: int) -> None:
        """One folder, one timeline. A restore (or a promotion) starts the server on a new
        timeline; streamed beside the old one, its WAL would share segment numbers with it,
        pruning would take one for the other, and a restore from an old base backup would
        follow the new timeline past the moment it was made to reach. pgBackRest and Barman
        keep both in one repository with their history files; here a new folder is simpler
        to reason about at 3 a.m., and the old one keeps restoring what came before."""
        held = self.timelines()
        if not held or held == [timeline]:
            return
        names = ", ".join(str(t) for t in held)
        raise StackError(
            f"{self.root} holds backups of timeline {names} and the server is on timeline "
            f"{timeline} now (a restore or a promotion starts a new timeline): back up into a "
            "new folder (`vq backup run --to NEWDIR`) and keep this one, which restores "
            f"timeline {names} up to the restore"
        )

    def system_id(self) -> str | None:
        identity = self.root / "cluster.json"
        return json.loads(identity.read_text()).get("system_id") if identity.exists() else None

    def backups(self) -> list[BaseBackup]:
        """Finished base backups, oldest first."""
        if not self.base.is_dir():
            return []
        found = []
        for info in sorted(self.base.glob(f"[!.]*/{INFO}")):
            found.append(BaseBackup(**json.loads(info.read_text())))
        return sorted(found, key=lambda b: b.started_at)

    def path(self, backup: BaseBackup) -> Path:
        return self.base / backup.name

    def record(self, directory: Path, backup: BaseBackup) -> None:
        (directory / INFO).write_text(json.dumps(asdict(backup), indent=2) + "\n")

    def wal_files(self) -> list[Path]:
        if not self.wal.is_dir():
            return []
        return sorted(p for p in self.wal.iterdir() if SEGMENT.match(p.name))

    def remove_partial_backups(self) -> list[Path]:
        gone = sorted(self.base.glob(".partial-*")) if self.base.is_dir() else []
        for path in gone:
            shutil.rmtree(path)
        return gone

    def prune(self, keep: int) -> list[str]:
        """Keep the newest `keep` base backups and the WAL the oldest of them needs onwards."""
        backups = self.backups()
        if keep < 1 or len(backups) <= keep:
            return []
        removed = []
        for old in backups[:-keep]:
            shutil.rmtree(self.path(old))
            removed.append(f"base backup {old.name}")
        oldest = backups[-keep]
        # Compare log and segment numbers only: a file of an older timeline that precedes the
        # oldest backup's start is as useless as one of its own timeline.
        horizon = oldest.start_segment[8:]
        wal_removed = 0
        for path in self.wal_files():
            if path.name[8:24] < horizon:
                path.unlink()
                wal_removed += 1
        if wal_removed:
            removed.append(f"{wal_removed} WAL files before {oldest.start_segment}")
        return removed
