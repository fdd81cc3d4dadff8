"""`vq restore`: a new data directory from a backup folder, at its latest point or at a moment.

Steps: choose the newest base backup that finished before the target; extract it (and the WAL it
carries) into the new directory; check every file against the backup's manifest
(`pg_verifybackup`); stage the folder's WAL from that backup's start (the receiver's `.partial`
file under its segment name: it is full-size, zero-padded); run PostgreSQL once to replay it up
to the target (`recovery_target_time`) or to the end, and promote (recover.py); look at the
restored event store. The directory is never one that exists already: a restore overwrites
nothing.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from deploy import procs
from deploy.backup import pg, recover
from deploy.backup.folder import SEGMENT, BackupFolder, BaseBackup
from deploy.errors import StackError

Say = Callable[[str], None]
Inspect = Callable[[str], None]  # given a conninfo (superuser, database "postgres")


@dataclass
class Restored:
    backup: BaseBackup
    recovered: recover.Recovered | None = None
    steps: dict[str, float] = field(default_factory=dict)
    wal_files: int = 0


def choose(folder: BackupFolder, target: datetime | None) -> BaseBackup:
    backups = folder.backups()
    if not backups:
        raise StackError(f"no finished base backup in {folder.base}")
    if target is None:
        return backups[-1]
    usable = [b for b in backups if b.finished <= target]
    if not usable:
        raise StackError(
            f"the oldest base backup ({backups[0].name}) finished at {backups[0].finished_at}, "
            f"after --to {target.isoformat()}: nothing to restore from"
        )
    return usable[-1]


def _check_new(data: Path) -> None:
    if data.exists() and (not data.is_dir() or any(data.iterdir())):
        raise StackError(
            f"{procs.shown(data)} exists and is not empty: restore into a new directory "
            "(move the old one away first)"
        )


def _extract(archive: Path, into: Path) -> None:
    flags = {".zst": ["-I", "zstd"], ".lz4": ["-I", "lz4"], ".gz": ["-z"], ".tar": []}
    into.mkdir(parents=True, exist_ok=True)
    out = procs.run(["tar", *flags[archive.suffix], "-x", "-f", archive, "-C", into])
    if out.returncode != 0:
        raise StackError(f"cannot extract {archive}: {out.last_line()}")


def _archive(directory: Path, stem: str) -> Path | None:
    for suffix in ("", ".zst", ".lz4", ".gz"):
        candidate = directory / f"{stem}.tar{suffix}"
        if candidate.exists():
            return candidate
    return None


def _stage_wal(folder: BackupFolder, backup: BaseBackup, staging: Path) -> int:
    """Copy the WAL a recovery from `backup` may ask for; a `.partial` file under its segment
    name, unless the complete file is there too."""
    staging.mkdir()
    horizon = backup.start_segment[8:]
    count = 0
    for path in sorted(folder.wal.iterdir()) if folder.wal.is_dir() else []:
        if path.name.endswith(".history"):
            shutil.copyfile(path, staging / path.name)
            continue
        if not SEGMENT.match(path.name) or path.name[8:24] < horizon:
            continue
        if int(path.name[:8], 16) < backup.timeline:
            continue
        name = path.name.removesuffix(".partial")
        if name != path.name and (folder.wal / name).exists():
            continue
        shutil.copyfile(path, staging / name)
        count += 1
    return count


def restore(
    folder: BackupFolder,
    data: Path,
    target: datetime | None,
    say: Say,
    inspect: Inspect | None = None,
) -> Restored:
    data = data.resolve()
    _check_new(data)
    backup = choose(folder, target)
    existed = data.exists()
    try:
        return _restore(folder, backup, data, target, say, inspect)
    except BaseException:
        # Whatever is in `data` is ours (it was new or empty): a failed restore leaves nothing
        # half-made to be mistaken for a cluster. PostgreSQL's log beside it says what happened.
        _remove_what_we_made(data, existed)
        raise


def _remove_what_we_made(data: Path, existed: bool) -> None:
    """The directory, or only its content when it was there (empty) before: a mount point."""
    if not data.exists():
        return
    for path in data.iterdir() if existed else [data]:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _restore(
    folder: BackupFolder,
    backup: BaseBackup,
    data: Path,
    target: datetime | None,
    say: Say,
    inspect: Inspect | None,
) -> Restored:
    source = folder.path(backup)
    bindir = pg.bindir(backup.pg_version)
    say(
        f"restoring base backup {backup.name} ({backup.bytes / 1e6:,.1f} MB, finished "
        f"{backup.finished_at}) into {procs.shown(data)}"
    )
    result = Restored(backup)
    clock = time.monotonic()
    base_tar = _archive(source, "base")
    if base_tar is None:
        raise StackError(f"{source} has no base.tar*: not a base backup")
    _extract(base_tar, data)
    wal_tar = _archive(source, "pg_wal")
    if wal_tar is not None:
        _extract(wal_tar, data / "pg_wal")
    data.chmod(0o700)
    result.steps["extract"] = time.monotonic() - clock

    clock = time.monotonic()
    out = procs.run([bindir / "pg_verifybackup", "--quiet", "-m", source / "backup_manifest", data])
    if out.returncode != 0:
        raise StackError(
            f"the restored files do not match the backup's manifest: {out.last_line()}"
        )
    result.steps["verify"] = time.monotonic() - clock

    clock = time.monotonic()
    staging = data.parent / f".{data.name}.restore-wal"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        result.wal_files = _stage_wal(folder, backup, staging)
        (data / "recovery.signal").touch()
        pg.ensure_traversable(data)
        pg.give_to_owner(data, staging)
        result.steps["stage"] = time.monotonic() - clock
        log = data.parent / f"{data.name}.restore.log"
        say(f"  replaying {result.wal_files} WAL files (PostgreSQL's log: {procs.shown(log)})")
        result.recovered = recover.recover(bindir, data, staging, target, log, inspect)
        result.steps["recover"] = result.recovered.seconds
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result
