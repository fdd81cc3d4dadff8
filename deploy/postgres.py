"""Our own PostgreSQL instance from Debian's binaries, with its cluster inside the data folder.

Not the system service (there may be no systemd): `initdb` and `pg_ctl` run as the `postgres` OS
user when we are root (initdb refuses root), on 127.0.0.1 only, socket in a private directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
from pathlib import Path

import psycopg
from psycopg import sql

from deploy import procs
from deploy.errors import StackError
from deploy.service import Port, Service

_INCLUDE = "include_if_exists = 'vq.conf'"


def _bindirs() -> dict[str, Path]:
    """Installed PostgreSQL majors, e.g. {"15": /usr/lib/postgresql/15/bin}."""
    found = {}
    for initdb in Path("/usr/lib/postgresql").glob("*/bin/initdb"):
        found[initdb.parent.parent.name] = initdb.parent
    return found


class Postgres(Service):
    name = "postgresql"
    dirname = "postgres"

    @property
    def pgdata(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def logfile(self) -> Path:
        return self.root / "postgresql.log"

    @property
    def pidfile(self) -> Path:
        return self.pgdata / "postmaster.pid"

    @property
    def workdir(self) -> Path:
        return self.pgdata  # the postmaster chdirs to its data directory

    @property
    def marker(self) -> str:
        return "postgres"

    def ports(self) -> list[Port]:
        return [Port(self.settings.pg_port, "VQ_PG_PORT")]

    def address(self) -> str:
        s = self.settings
        return f"postgresql://{s.pg_user}:{s.pg_password}@{s.pg_host}:{s.pg_port}/{s.pg_database}"

    def log_files(self) -> list[Path]:
        return [self.logfile]

    def missing_packages(self) -> list[str]:
        return [] if _bindirs() else ["postgresql"]

    def bindir(self) -> Path:
        dirs = _bindirs()
        if not dirs:
            raise StackError("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin")
        version_file = self.pgdata / "PG_VERSION"
        if version_file.exists():
            made_by = version_file.read_text().strip()
            if made_by not in dirs:
                raise StackError(
                    f"{procs.shown(self.pgdata)} was made by PostgreSQL {made_by}, which is not "
                    f"installed (found {', '.join(sorted(dirs))}); install postgresql-{made_by} "
                    "or remove the data with `make clean-data`"
                )
            return dirs[made_by]
        return dirs[max(dirs, key=int)]

    # -- running commands as the cluster's owner --------------------------------------------------
    def _as_owner(self, *cmd: str | Path) -> list[str | Path]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)

    def _prepare_dirs(self) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise StackError(
                "there is no `postgres` OS user to run PostgreSQL as; "
                "reinstall the postgresql package"
            ) from exc
        for path in [self.root, *self.root.rglob("*")]:
            if path.stat().st_uid != owner.pw_uid:
                os.chown(path, owner.pw_uid, owner.pw_gid, follow_symlinks=False)
        self.socket_dir.chmod(0o700)
        # The postgres user must be able to walk down to the data folder (a clone under /root...).
        for parent in reversed(self.root.parents):
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH and parent.stat().st_uid != owner.pw_uid:
                print(f"letting the postgres user traverse {parent} (chmod o+x)", flush=True)
                parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)

    def _initdb(self, bindir: Path) -> None:
        if self.pgdata.exists():  # an earlier initdb that did not finish
            shutil.rmtree(self.pgdata)
        print(
            f"initialising a PostgreSQL {bindir.parent.name} cluster in "
            f"{procs.shown(self.pgdata)}...",
            flush=True,
        )
        out = procs.run(
            self._as_owner(
                bindir / "initdb",
                "-D",
                self.pgdata,
                "-U",
                "postgres",
                "--no-locale",
                "--encoding=UTF8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            )
        )
        if out.returncode != 0:
            raise StackError(f"initdb failed: {out.last_line()}")
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(f"\n{_INCLUDE}\n")

    def _write_conf(self) -> None:
        # Dev-box settings; fsync stays on: the event store is the system of record.
        conf = self.pgdata / "vq.conf"
        conf.write_text(
            "# written by `vq stack up` on every start; edit deploy/postgres.py, not this file\n"
            f"listen_addresses = '{self.settings.pg_host}'\n"
            f"port = {self.settings.pg_port}\n"
            f"unix_socket_directories = '{self.socket_dir}'\n"
            "shared_buffers = 256MB\n"
            "max_connections = 200\n"
            "fsync = on\n"
            "logging_collector = off\n"
            "log_line_prefix = '%m [%p] %q%u@%d '\n"
            # Backups (deploy/backup/): `vq backup run` streams the WAL through a replication
            # slot (pg_receivewal) and takes base backups (pg_basebackup). The first three are
            # PostgreSQL 15's defaults, read at start only, written out so that nobody lowers
            # them. A slot nobody reads (the backup process stopped) keeps WAL for it: at most
            # this much, then the server gives the slot up rather than fill the disk.
            "wal_level = replica\n"
            "max_wal_senders = 10\n"
            "max_replication_slots = 10\n"
            "max_slot_wal_keep_size = 10GB\n"
        )
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(conf, owner.pw_uid, owner.pw_gid)

    def start(self) -> int:
        bindir = self.bindir()
        self._prepare_dirs()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(bindir)
        self._write_conf()
        if self.stale_pid() is not None:  # killed; its pid may now belong to someone else
            self.pidfile.unlink()
        self._remove_stale_socket_lock()
        print(
            f"starting postgresql on {self.settings.pg_host}:{self.settings.pg_port}...", flush=True
        )
        out = procs.run(
            self._as_owner(
                bindir / "pg_ctl",
                "start",
                "-D",
                self.pgdata,
                "-l",
                self.logfile,
                "-w",
                "-t",
                str(int(self.start_timeout)),
                "-s",
            )
        )
        pid = procs.read_pid(self.pidfile)
        if out.returncode != 0 or pid is None:
            raise StackError(
                f"PostgreSQL did not start: {self.failure_hint()}; see {procs.shown(self.logfile)}"
            )
        return pid

    def _remove_stale_socket_lock(self) -> None:
        """A killed postmaster leaves `.s.PGSQL.<port>.lock` behind. PostgreSQL removes it itself
        only if no process has its pid: one whose parent never reaps it (PID 1 of some VMs and
        containers) stays a zombie that kill(pid, 0) still finds, and the new postmaster then
        refuses to start ("lock file ... already exists"). A zombie is dead to us (procs.alive)."""
        lock = self.socket_dir / f".s.PGSQL.{self.settings.pg_port}.lock"
        pid = procs.read_pid(lock)
        if pid is not None and not procs.alive(pid):
            lock.unlink(missing_ok=True)
            (self.socket_dir / f".s.PGSQL.{self.settings.pg_port}").unlink(missing_ok=True)

    def _connect_local(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.settings.pg_port,
            user="postgres",
            dbname="postgres",
            connect_timeout=3,
            autocommit=True,
        )

    def ready(self) -> bool:
        try:
            with self._connect_local() as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def provision(self) -> str:
        s = self.settings
        with self._connect_local() as conn:
            role, db = sql.Identifier(s.pg_user), sql.Identifier(s.pg_database)
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [s.pg_user]).fetchone():
                conn.execute(
                    sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                        role, sql.Literal(s.pg_password)
                    )
                )
            else:
                conn.execute(
                    sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {}").format(
                        role, sql.Literal(s.pg_password)
                    )
                )
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [s.pg_database]
            ).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(db, role))
        try:  # the way the application will connect: TCP, password
            with psycopg.connect(self.address(), connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise StackError(f"cannot log in to {self.address()}: {exc}") from exc
        return ""

    def stop(self, pid: int) -> None:
        out = procs.run(
            self._as_owner(
                self.bindir() / "pg_ctl",
                "stop",
                "-D",
                self.pgdata,
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "-s",
            )
        )
        if out.returncode != 0 and procs.alive(pid):
            # pg_ctl could not do it (pid file gone?): SIGINT is what "-m fast" sends.
            procs.terminate(pid, grace=60, sig=signal.SIGINT)
