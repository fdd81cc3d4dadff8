"""How much each API key is used: counted in memory on every request, written in batches.

A write per request would double the database's work for every read; instead each API process
counts its own uses and adds them to the table every few seconds in one statement (additions
commute, so replicas need no coordination). A flush that fails keeps its counts for the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection

from eventstore.errors import StoreUnavailable

log = logging.getLogger(__name__)

Connect = Callable[[], AbstractAsyncContextManager[AsyncConnection[Any]]]

_FLUSH = """
UPDATE api_keys AS k
   SET use_count = k.use_count + u.uses,
       last_used_at = GREATEST(k.last_used_at, u.last_at)
  FROM unnest(%s::uuid[], %s::bigint[], %s::timestamptz[]) AS u (key_id, uses, last_at)
 WHERE k.key_id = u.key_id
"""


def utcnow() -> datetime:
    return datetime.now(UTC)


class KeyUsage:
    """Uses counted since the last flush: key id -> (count, last use)."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock
        self._pending: dict[str, tuple[int, datetime]] = {}

    def record(self, key_id: str) -> None:
        """One use, now (in memory only: cheap enough for every request)."""
        found = self._pending.get(key_id)
        self._pending[key_id] = ((found[0] if found else 0) + 1, self._clock())

    def pending(self, key_id: str) -> tuple[int, datetime | None]:
        """Uses of the key not written yet (this process's), and the last of them."""
        found = self._pending.get(key_id)
        return found if found is not None else (0, None)

    async def flush(self, connect: Connect) -> int:
        """Add the pending uses to the table; returns how many keys were written (0 when
        PostgreSQL is unavailable: the counts wait for the next flush)."""
        batch, self._pending = self._pending, {}
        if not batch:
            return 0
        ids = sorted(batch)
        try:
            async with connect() as conn:
                await conn.execute(
                    _FLUSH, (ids, [batch[i][0] for i in ids], [batch[i][1] for i in ids])
                )
        except StoreUnavailable as exc:
            self._restore(batch)
            log.warning("API key usage not written yet (kept for the next flush): %s", exc)
            return 0
        except BaseException:
            self._restore(batch)
            raise
        return len(ids)

    def _restore(self, batch: dict[str, tuple[int, datetime]]) -> None:
        for key_id, (count, last) in batch.items():
            found = self._pending.get(key_id)
            if found is None:
                self._pending[key_id] = (count, last)
            else:
                self._pending[key_id] = (found[0] + count, max(found[1], last))
