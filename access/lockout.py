"""Brute force: failed sign-ins counted per (organisation, email) in Redis, whether or not the
email belongs to anyone, so the answers never tell which addresses exist.

Every attempt is counted as a failure *before* the password is checked, in one atomic step that
also says whether the attempt may go ahead at all: a thousand concurrent guesses cannot all slip
through while the first ones are being checked. A success resets the count. After
`login_backoff_after` failures in a row, each further attempt must wait twice as long as the one
before (2 s, 4 s, 8 s...); after `login_lockout_after`, the account is locked for
`login_lockout_s`, and each failure after that locks it again. A refused attempt costs one Redis
call and no hashing at all. Redis' own clock decides, so every API replica agrees.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.errors import Unavailable
from core.settings import Settings

# Failures are forgotten this long after the last one (a success forgets them at once).
FORGET_AFTER_S = 24 * 3600

# KEYS[1]: the counter. ARGV[1]: its time to live; ARGV[2..]: the wait after the n-th failure
# (the last one repeats). Answers {allowed (0/1), failures, seconds (a string: Lua numbers
# answered to Redis are truncated to integers)}: the wait still due when refused, else the wait
# this attempt's failure will impose.
_BEGIN = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'n', 'next')
local n = tonumber(state[1]) or 0
local next_at = tonumber(state[2]) or 0
if next_at > now then
  return {0, n, tostring(next_at - now)}
end
n = n + 1
local wait = tonumber(ARGV[math.min(n, #ARGV - 1) + 1])
redis.call('HSET', KEYS[1], 'n', n, 'next', tostring(now + wait))
redis.call('EXPIRE', KEYS[1], math.max(tonumber(ARGV[1]), math.ceil(wait) + 1))
return {1, n, tostring(wait)}
"""

# The attempt turned out to be neither a success nor a failure (a second factor was asked for).
_FORGIVE = """
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
if n > 0 then redis.call('HSET', KEYS[1], 'n', n - 1) end
return n
"""


class LockoutUnavailable(Unavailable):
    public_detail = "sign-in is unavailable for a moment (Redis did not answer); try again"


def schedule(settings: Settings) -> list[float]:
    """The wait after each failure in a row, the first to the one that locks the account."""
    return [
        wait_after(
            n, settings.login_backoff_after, settings.login_lockout_after, settings.login_lockout_s
        )
        for n in range(1, settings.login_lockout_after + 1)
    ]


def wait_after(failures: int, backoff_after: int, lockout_after: int, lockout_s: float) -> float:
    """Seconds the next attempt must wait after `failures` failures in a row: none before
    `backoff_after`, then 2, 4, 8... (never more than a lock-out), and the lock-out from
    `lockout_after` on."""
    if failures >= lockout_after:
        return lockout_s
    if failures < backoff_after:
        return 0.0
    exponent = failures - backoff_after + 1
    if exponent >= math.log2(lockout_s) + 1:
        return lockout_s
    return float(min(2.0**exponent, lockout_s))


@dataclass(frozen=True, slots=True)
class Attempt:
    """One admitted attempt: what its failure would mean."""

    key: str
    failures: int  # counting this attempt as failed
    locks: bool  # its failure locks the account (audit it: once per lock)


class Refused(Exception):
    def __init__(self, retry_after_s: int, locked: bool) -> None:
        super().__init__(f"wait {retry_after_s} s")
        self.retry_after_s = retry_after_s
        self.locked = locked


class Lockout:
    """`kind` separates counters: sign-in ("login") and password-reset requests ("reset")."""

    def __init__(self, redis: aioredis.Redis, settings: Settings, kind: str = "login") -> None:
        self._redis, self._settings = redis, settings
        self._prefix = f"{settings.redis_prefix}:access:{kind}:"
        self._schedule = schedule(settings)
        self._ttl = int(max(FORGET_AFTER_S, settings.login_lockout_s))

    def key(self, tenant_id: str, email: str) -> str:
        # The address is hashed: Redis keys are listed by operators and tools.
        digest = hashlib.sha256(f"{tenant_id}\0{email.strip().lower()}".encode()).hexdigest()
        return self._prefix + digest

    async def begin(self, tenant_id: str, email: str) -> Attempt:
        """Admit one attempt (counted as a failure until `succeeded`), or Refused."""
        key = self.key(tenant_id, email)
        try:
            allowed, failures, seconds = await self._redis.eval(
                _BEGIN, 1, key, self._ttl, *self._schedule
            )
        except (RedisError, OSError, TimeoutError) as exc:
            raise LockoutUnavailable(f"Redis: {exc!r}") from exc
        lock_at = self._settings.login_lockout_after
        if not int(allowed):
            retry = max(1, math.ceil(float(seconds)))
            raise Refused(retry, locked=int(failures) >= lock_at)
        return Attempt(key, int(failures), locks=int(failures) >= lock_at)

    async def succeeded(self, attempt: Attempt) -> None:
        await self._call(self._redis.delete(attempt.key))

    async def forgive(self, attempt: Attempt) -> None:
        """The attempt counts neither way (the password was right; a second factor is due)."""
        await self._call(self._redis.eval(_FORGIVE, 1, attempt.key))

    async def reset(self, tenant_id: str, email: str) -> None:
        """Forget the failures (the person proved who they are another way: a reset link)."""
        await self._call(self._redis.delete(self.key(tenant_id, email)))

    async def _call(self, pending: Awaitable[Any]) -> None:
        try:
            await pending
        except (RedisError, OSError, TimeoutError) as exc:
            raise LockoutUnavailable(f"Redis: {exc!r}") from exc
