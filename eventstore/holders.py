"""Who holds the readers back: the oldest transaction still writing in this database.

Readers of the global order (the relay, a rebuild) read below the oldest transaction that has an
id, has not ended and may have written to this database (eventstore/rows.py HORIZON): a commit
after it waits until it ends, so that no event is ever passed over by one that commits late. One
left open (a `psql` session that wrote and went to lunch, a long batch job, a prepared transaction
nobody finished) holds every queue's read model still. This names it for the operator's log: its
session (pid, database, user, application, state, how long its transaction has been open) or its
prepared transaction's id. No query text (it can hold anything); a role without
`pg_read_all_stats` sees other roles' sessions with fewer details.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg import AsyncConnection

from eventstore.leadership import Connect
from eventstore.rows import HORIZON_SQL

# An announcement that names no transaction (before migration 0019): any may be unpublished.
UNNAMED: Final = 2**63

OLDEST_WRITER_SQL: Final = """
SELECT kind, who, database, role, application, state, open_s FROM (
    SELECT 'session' AS kind, pid::text AS who, datname::text AS database,
           usename::text AS role, application_name AS application, state,
           EXTRACT(EPOCH FROM clock_timestamp() - xact_start)::float8 AS open_s,
           age(backend_xid) AS age
      FROM pg_stat_activity
     WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() AND datname = current_database()
    UNION ALL
    SELECT 'prepared transaction', gid, database::text, owner::text, NULL, 'prepared',
           EXTRACT(EPOCH FROM clock_timestamp() - prepared)::float8, age(transaction)
      FROM pg_prepared_xacts
) AS writers ORDER BY age DESC LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class Writer:
    """The oldest transaction still writing: a session's, or a prepared one."""

    kind: str
    who: str
    database: str | None
    role: str | None
    application: str | None
    state: str | None
    open_s: float | None

    def describe(self) -> str:
        name = f"session pid {self.who}" if self.kind == "session" else f"{self.kind} {self.who!r}"
        details = [
            f"database {self.database}" if self.database else None,
            f"user {self.role}" if self.role else None,
            f"application {self.application!r}" if self.application else None,
            self.state,
            f"its transaction open {self.open_s:.0f} s" if self.open_s is not None else None,
        ]
        known = [detail for detail in details if detail]
        return f"{name} ({', '.join(known)})" if known else name


async def oldest_writer(conn: AsyncConnection[Any]) -> Writer | None:
    """The oldest transaction with an id still running: a session's in this database, or a
    prepared one (any database's: the horizon waits for those). None: there is none."""
    cur = await conn.execute(OLDEST_WRITER_SQL)
    row = await cur.fetchone()
    return None if row is None else Writer(*row)


# Announced commits unpublishable this long are worth an operator's look; told again this often.
TOLD_S: Final = 10.0
RETOLD_S: Final = 60.0


class HeldWatch:
    """A reader's watch on being held: a commit announced past what it could read, still behind
    the horizon after TOLD_S, is logged as a warning naming the oldest writer, again
    every RETOLD_S, and the end of it too. (The horizon is the whole server's: one it has
    passed is not holding this reader, read or not.)"""

    def __init__(self, connect: Connect, log: logging.Logger, reader: str) -> None:
        self._connect = connect
        self._log = log
        self._reader = reader
        self._pending: int | None = None  # the newest announced transaction not yet read
        self._since: float | None = None
        self._next_tell = 0.0
        self._told = False

    def announced(self, transaction_id: int) -> None:
        if transaction_id < UNNAMED:  # one that names no transaction cannot be told apart
            self._pending = max(self._pending or 0, transaction_id)

    async def read_to(self, transaction_id: int) -> None:
        """The reader has read up to `transaction_id`: held no more, or held a while longer."""
        now = asyncio.get_running_loop().time()
        if self._pending is None or transaction_id >= self._pending:
            self._free(now)
            return
        self._since = self._since or now
        if now - self._since < TOLD_S or now < self._next_tell:
            return
        horizon, holder = await self._look()
        if horizon is not None and horizon > self._pending:
            self._free(now)
            return
        self._told, self._next_tell = True, now + RETOLD_S
        self._log.warning(
            "%s held for %.0f s: commits wait behind an older transaction still open in the "
            "database, %s; they go out, in order, once it ends",
            self._reader, now - self._since, holder,
        )  # fmt: skip

    def _free(self, now: float) -> None:
        if self._told:
            self._log.warning(
                "%s going again after %.0f s held", self._reader, now - (self._since or now)
            )
        self._pending = self._since = None
        self._told, self._next_tell = False, 0.0

    async def _look(self) -> tuple[int | None, str]:
        """The horizon (eventstore/rows.py HORIZON) and who holds it."""
        try:
            conn = await self._connect()
            try:
                cur = await conn.execute(HORIZON_SQL)
                found = await cur.fetchone()
                writer = await oldest_writer(conn)
            finally:
                await conn.close()
        except (psycopg.Error, OSError) as exc:
            return None, f"not named ({exc})"
        horizon = int(found[0]) if found else None
        return horizon, writer.describe() if writer else "not found (ended since)"
