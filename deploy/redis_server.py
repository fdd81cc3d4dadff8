"""Our own Redis from Debian's `redis-server` binary, with a generated config in the data folder.

Redis only holds read models, which can always be rebuilt: RDB snapshots are kept so a restart is
quick, but no append-only file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from deploy import procs
from deploy.errors import StackError
from deploy.service import Port, Service


def _binary() -> Path | None:
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    return Path(found) if found else None


class Redis(Service):
    name = "redis"
    dirname = "redis"
    start_timeout = 30.0

    @property
    def conf(self) -> Path:
        return self.root / "redis.conf"

    @property
    def pidfile(self) -> Path:
        return self.root / "redis.pid"

    @property
    def logfile(self) -> Path:
        return self.root / "redis.log"

    @property
    def workdir(self) -> Path:
        return self.root  # redis chdirs to its `dir`

    @property
    def marker(self) -> str:
        return "redis"

    def ports(self) -> list[Port]:
        return [Port(self.settings.redis_port, "VQ_REDIS_PORT")]

    def address(self) -> str:
        return f"redis://{self.settings.redis_host}:{self.settings.redis_port}/0"

    def log_files(self) -> list[Path]:
        return [self.logfile]

    def missing_packages(self) -> list[str]:
        return [] if _binary() else ["redis-server"]

    def config_text(self) -> str:
        return (
            "# written by `vq stack up` on every start; edit deploy/redis.py, not this file\n"
            f"bind {self.settings.redis_host}\n"
            f"port {self.settings.redis_port}\n"
            "protected-mode yes\n"
            "daemonize yes\n"
            f'pidfile "{self.pidfile}"\n'
            f'logfile "{self.logfile}"\n'
            f'dir "{self.root}"\n'
            "loglevel notice\n"
            "appendonly no\n"
            "save 3600 1 300 100 60 10000\n"
        )

    def start(self) -> int:
        binary = _binary()
        if binary is None:
            raise StackError("redis-server is not installed; apt-get install redis-server")
        self.root.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(self.config_text())
        self.pidfile.unlink(missing_ok=True)  # not ours (checked by the caller): stale
        print(
            f"starting redis on {self.settings.redis_host}:{self.settings.redis_port}...",
            flush=True,
        )
        out = procs.run([binary, self.conf])
        if out.returncode != 0:
            raise StackError(f"redis-server did not start: {out.last_line()}")
        if not procs.wait_until(lambda: procs.read_pid(self.pidfile) is not None, timeout=10):
            raise StackError(
                f"redis-server did not start: {self.failure_hint()}; "
                f"see {procs.shown(self.logfile)}"
            )
        pid = procs.read_pid(self.pidfile)
        assert pid is not None
        return pid

    def _client(self) -> redis.Redis:
        return redis.Redis(
            host=self.settings.redis_host,
            port=self.settings.redis_port,
            socket_timeout=2,
            socket_connect_timeout=2,
        )

    def ready(self) -> bool:
        client = self._client()
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self, pid: int) -> None:
        client = self._client()
        try:
            client.shutdown()  # saves the RDB snapshot, then exits
        except redis.RedisError:
            pass  # the connection closes as the server goes away; checked below
        finally:
            client.close()
        if not procs.wait_until(lambda: not procs.alive(pid), timeout=30):
            procs.terminate(pid, grace=10)
