"""The key cache answers every lookup, even when an entry expires in the middle of one."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, cast

from access.directory import ApiKey, TenantDirectory
from http_api.auth import Authenticator

KEY = ApiKey(key_id="k1", tenant_id="t1", name="desk", role="staff")


class Directory:
    """Stands in for the PostgreSQL directory: counts the lookups that reach it."""

    def __init__(self) -> None:
        self.lookups = 0

    def record_use(self, key_id: str) -> None:
        pass

    async def authenticate(self, secret: str) -> ApiKey | None:
        self.lookups += 1
        return KEY if secret == "vq_good" else None


def test_an_entry_expiring_between_two_reads_is_looked_up_again() -> None:
    # Each reading of the clock is 5.1 s after the one before, so an entry stored at one
    # request is alive at the next request's first look and expired at its second (TTL 10 s).
    ticks = itertools.count(0, 5.1)
    directory = Directory()
    auth = Authenticator(cast(TenantDirectory, directory), timer=lambda: float(next(ticks)))

    async def run() -> list[Any]:
        return [await auth.authenticate("vq_good") for _ in range(6)]

    principals = asyncio.run(run())
    assert all(p.key_id == KEY.key_id and p.role == KEY.role for p in principals)
    assert directory.lookups >= 2  # expired entries were fetched again, not served stale


def test_answers_are_remembered_within_the_ttl() -> None:
    directory = Directory()
    auth = Authenticator(cast(TenantDirectory, directory), timer=lambda: 0.0)

    async def run() -> None:
        for _ in range(3):
            await auth.authenticate("vq_good")

    asyncio.run(run())
    assert directory.lookups == 1
