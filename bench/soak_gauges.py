"""What the soak samples every interval besides the commands: each process's resident memory
(VmRSS, its process tree added up), the lags as the API's /metrics reports them, the storage the
run fills, and the cores each part used. A sample that fails (a server restarted by someone's
test) is None in the series, never the end of the run.
"""

from __future__ import annotations

import os
import time
from collections import deque
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
from prometheus_client.parser import text_string_to_metric_families

from bench.procs import CpuMeter, CpuSnapshot, cores_used
from core.settings import Settings
from eventstore.postgres import UNPUBLISHED_SQL
from eventstore.relay import CHECKPOINT as RELAY_CHECKPOINT

RELAY_LAG_COUNT_MAX = 100_000  # as the API counts it (query_api/operations.py)
KEYS_EVERY_S = 60.0  # counting our Redis keys SCANs the whole server's keyspace: not too often
MB = 1024 * 1024

# One query: the database (every schema on it: other users' too), this run's schema (tables,
# indexes, TOAST), and how many events the store holds.
STORAGE_SQL = """
SELECT pg_database_size(current_database()),
       (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')),
       (SELECT coalesce(max(global_position), 0) FROM events)
"""


def _parents() -> dict[int, int]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            found[int(entry)] = int(raw[raw.rindex(")") + 2 :].split()[1])
    return found


def rss_mb(pid: int, parents: dict[int, int]) -> float | None:
    """VmRSS of a process and its descendants (uvicorn workers, say), in MB; None: gone."""
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    total, found, todo = 0, False, deque([pid])
    while todo:
        member = todo.popleft()
        todo.extend(children.get(member, ()))
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    found = True
        except OSError:
            continue
    return round(total / 1024, 1) if found else None


def lags(text: str) -> dict[str, float | None]:
    """The relay's lag (events, seconds) and the workers' consumer lag (all partitions added)."""
    found: dict[str, float | None] = {"relay_lag": None, "relay_lag_s": None, "consumer_lag": None}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "vq_relay_lag_events":
                found["relay_lag"] = sample.value
            elif sample.name == "vq_relay_lag_seconds":
                found["relay_lag_s"] = round(sample.value, 3)
            elif sample.name == "vq_consumer_lag":
                found["consumer_lag"] = (found["consumer_lag"] or 0.0) + sample.value
    return found


class Gauges:
    def __init__(
        self, settings: Settings, api_url: str, pids: dict[str, int], meter: CpuMeter
    ) -> None:
        self.settings = settings
        self.pids = pids  # part -> pid: the product's processes, the soak's own helpers
        self.meter = meter
        token = settings.metrics_token
        self.http = httpx.Client(
            base_url=api_url,
            timeout=5,
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )
        self.redis = redis.Redis.from_url(settings.redis_dsn, socket_timeout=5)
        self._pg: psycopg.Connection[Any] | None = None
        self._keys_at = -KEYS_EVERY_S
        self._cpu: CpuSnapshot = meter.snapshot()

    def sample(self) -> dict[str, Any]:
        parents = _parents()
        found: dict[str, Any] = {
            f"rss_{part}": rss_mb(pid, parents) for part, pid in self.pids.items()
        }
        found["rss_bench"] = rss_mb(os.getpid(), {})  # this process alone, not its children
        found.update(self._lags())
        # The API leaves the relay lag out when its probe timed out (PostgreSQL slow): the same
        # query from here then, so a busy moment is measured rather than missing.
        found.update(self._postgres(relay_lag=found["relay_lag"] is None))
        found.update(self._redis())
        snapshot = self.meter.snapshot()
        found["cores"] = cores_used(self._cpu, snapshot)
        self._cpu = snapshot
        found["loadavg"] = round(os.getloadavg()[0], 2)
        return found

    def _lags(self) -> dict[str, float | None]:
        try:
            answer = self.http.get("/metrics")
            answer.raise_for_status()
        except httpx.HTTPError:
            return lags("")
        return lags(answer.text)

    def _postgres(self, relay_lag: bool) -> dict[str, Any]:
        found: dict[str, Any] = {"pg_db_mb": None, "pg_schema_mb": None, "events": None}
        try:
            if self._pg is None or self._pg.closed:
                self._pg = psycopg.connect(
                    self.settings.pg_url,
                    autocommit=True,
                    connect_timeout=5,
                    options=f"-c search_path={self.settings.db_schema} -c statement_timeout=5000",
                )
            row = self._pg.execute(STORAGE_SQL).fetchone()
            assert row is not None
            found["pg_db_mb"] = round(int(row[0]) / MB, 1)
            found["pg_schema_mb"] = round(int(row[1]) / MB, 1)  # a sum: numeric, a Decimal
            found["events"] = int(row[2])
            if relay_lag:
                args = (RELAY_CHECKPOINT, RELAY_CHECKPOINT, RELAY_LAG_COUNT_MAX)
                lag = self._pg.execute(UNPUBLISHED_SQL, args).fetchone()
                assert lag is not None
                found["relay_lag"], found["relay_lag_s"] = int(lag[0]), round(float(lag[1]), 3)
                found["relay_lag_from"] = "sql"
        except psycopg.Error:
            if self._pg is not None:
                self._pg.close()
            self._pg = None
        return found

    def _redis(self) -> dict[str, Any]:
        found: dict[str, Any] = {"redis_mb": None, "redis_keys": None}
        try:
            found["redis_mb"] = round(int(self.redis.info("memory")["used_memory"]) / MB, 1)
            if time.monotonic() - self._keys_at >= KEYS_EVERY_S:
                self._keys_at = time.monotonic()
                match = f"{self.settings.redis_prefix}:*"
                found["redis_keys"] = sum(
                    1 for _ in self.redis.scan_iter(match=match, count=10_000)
                )
        except redis.RedisError:
            pass
        return found

    def close(self) -> None:
        self.http.close()
        self.redis.close()
        if self._pg is not None:
            self._pg.close()
