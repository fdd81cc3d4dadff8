"""PostgreSQL's own backup tools: where they are, as whom they run, and where they connect.

The tools that only read (pg_basebackup, pg_receivewal, pg_verifybackup, psql) run as we are; a
server (`postgres` for a recovery) runs as the `postgres` OS user when we are root, as the stack
does (deploy/postgres.py). The connection is a role with the REPLICATION attribute: the native
stack's superuser over its private socket by default, or `--db` / VQ_BACKUP_DATABASE_URL. A
password in that URL goes to the tools in PGPASSWORD, never on a command line (`ps` shows those).
"""

from __future__ import annotations

import os
import pwd
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from core.settings import Settings
from deploy import procs
from deploy.errors import StackError

# The physical replication slot `vq backup run` streams through: the server keeps WAL until the
# receiver has it (bounded by max_slot_wal_keep_size, deploy/postgres.py).
SLOT = "vq_backup"
APPLICATION_NAME = "vq_backup"
_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


def installed() -> dict[str, Path]:
    """Installed PostgreSQL majors and their bin folders, e.g. {"15": /usr/lib/postgresql/15/bin}."""
    return {
        p.parent.parent.name: p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")
    }


def bindir(major: str | None = None) -> Path:
    dirs = installed()
    if not dirs:
        raise StackError("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin")
    if major is None:
        return dirs[max(dirs, key=int)]
    if major not in dirs:
        raise StackError(
            f"this backup was made by PostgreSQL {major}, which is not installed (found "
            f"{', '.join(sorted(dirs))}); install postgresql-{major}"
        )
    return dirs[major]


def as_owner(cmd: Sequence[str | Path]) -> list[str]:
    """A server command, run as the `postgres` OS user when we are root (it refuses root)."""
    args = [str(part) for part in cmd]
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def give_to_owner(*paths: Path) -> None:
    """Make these trees the server's (when we are root), as a data directory must be."""
    if os.geteuid() != 0:
        return
    owner = pwd.getpwnam("postgres")
    for top in paths:
        for path in [top, *top.rglob("*")]:
            os.chown(path, owner.pw_uid, owner.pw_gid, follow_symlinks=False)


def ensure_traversable(path: Path) -> None:
    """The `postgres` user must be able to walk down to a data directory (one under /root...)."""
    if os.geteuid() != 0:
        return
    owner = pwd.getpwnam("postgres")
    for parent in reversed(path.parents):
        info = parent.stat()
        if not info.st_mode & stat.S_IXOTH and info.st_uid != owner.pw_uid:
            parent.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXOTH)


@dataclass(frozen=True)
class Source:
    """Where the backup tools connect (a libpq conninfo without its password)."""

    conninfo: str
    password: str | None = None

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PGAPPNAME": APPLICATION_NAME, "PGCONNECT_TIMEOUT": "5"}
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def shown(self) -> str:
        parts = conninfo_to_dict(self.conninfo)
        return f"{parts.get('user', '?')}@{parts.get('host', '?')}:{parts.get('port', '5432')}"


def source(settings: Settings, url: str | None = None) -> Source:
    """The connection the backup tools use: `url` when given (a role WITH REPLICATION), else the
    native stack's superuser over the stack's own socket (trusted; only local users reach it)."""
    if url:
        try:
            parts = conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise StackError(f"VQ_BACKUP_DATABASE_URL / --db is not a libpq URL: {exc}") from None
        password = parts.pop("password", None)
        kept = {name: str(value) for name, value in parts.items() if value is not None}
        return Source(make_conninfo("", **kept), None if password is None else str(password))
    socket_dir = settings.data_dir.resolve() / "postgres" / "run"
    if not socket_dir.is_dir():
        raise StackError(
            f"no native stack PostgreSQL socket in {procs.shown(socket_dir)}: start it with "
            "`vq stack up`, or give --db (VQ_BACKUP_DATABASE_URL): a role WITH REPLICATION"
        )
    return Source(
        make_conninfo(
            host=str(socket_dir), port=settings.pg_port, user="postgres", dbname="postgres"
        )
    )


def run_tool(src: Source, cmd: Sequence[str | Path], timeout: float = 3600) -> procs.Output:
    """A client tool with the connection's environment (password, application name)."""
    return procs.run(cmd, env=src.env(), timeout=timeout)


@dataclass(frozen=True)
class Identity:
    system_id: str
    timeline: int
    lsn: int
    segment_size: int
    version: str  # the server's major version, e.g. "15"


def identify(src: Source) -> Identity:
    """IDENTIFY_SYSTEM and the WAL segment size, over a replication connection (as the tools
    will connect: this also proves the role may replicate)."""
    conninfo = f"{src.conninfo} replication=true"
    psql = bindir() / "psql"
    out = run_tool(
        src,
        [
            psql,
            "-X",
            "-At",
            "-F",
            "|",
            "-d",
            conninfo,
            "-c",
            "IDENTIFY_SYSTEM",
            "-c",
            "SHOW wal_segment_size",
            "-c",
            "SHOW server_version_num",
        ],
        timeout=30,
    )
    lines = [line for line in out.text.splitlines() if line.strip()]
    if out.returncode != 0 or len(lines) < 3:
        raise StackError(
            f"cannot open a replication connection as {src.shown()}: {out.last_line()} (the role "
            "needs REPLICATION and pg_hba.conf a `replication` line)"
        )
    system_id, timeline, lsn, *_ = lines[0].split("|")
    major = str(int(lines[2]) // 10000)
    return Identity(system_id, int(timeline), parse_lsn(lsn), parse_size(lines[1]), major)


def parse_lsn(text: str) -> int:
    match = _LSN.match(text.strip())
    if match is None:
        raise ValueError(f"not an LSN: {text!r}")
    return (int(match[1], 16) << 32) | int(match[2], 16)


def parse_size(text: str) -> int:
    """`SHOW wal_segment_size` says "16MB"."""
    units = {"kB": 1024, "MB": 1024**2, "GB": 1024**3, "B": 1}
    text = text.strip()
    for unit, factor in units.items():
        if text.endswith(unit) and text[: -len(unit)].isdigit():
            return int(text[: -len(unit)]) * factor
    raise ValueError(f"not a size: {text!r}")


def segment_name(timeline: int, lsn: int, segment_size: int) -> str:
    """The WAL file holding `lsn`, as PostgreSQL names it (XLogFileName)."""
    segment = lsn // segment_size
    per_id = 0x1_0000_0000 // segment_size
    return f"{timeline:08X}{segment // per_id:08X}{segment % per_id:08X}"
