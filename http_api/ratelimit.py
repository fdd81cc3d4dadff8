"""Per-client rate limits on Redis (the `limits` library, sliding-window counter): a key or a
person is charged by `charge()` once authenticated; a request without credentials is charged to
its address by the middleware. Over the limit: 429 with Retry-After; every charged answer carries
the IETF draft's `RateLimit-*` headers.

A rate limiter must not take the API down, nor let go when it matters: when Redis cannot answer
in time (down, or the process too busy to hear it in a burst), each process counts alone, in its
own memory (a fixed minute per caller: with N replicas up to N times the limit), a warning at most
once a minute, and Redis is left alone for a few seconds.

Cost per charged request: one Redis round trip, one EVALSHA of `_CHARGE`: the `limits`
library's sliding-window acquire and its window read for the headers in one script, on the
library's own keys (its two scripts cost two round trips: a tenth of a command's CPU). A busy
caller is charged a lease of requests at once and spends it here (rate_leases.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import redis.asyncio as aioredis
from cachetools import TTLCache
from fastapi import FastAPI
from limits import RateLimitItemPerMinute
from redis.commands.core import AsyncScript
from redis.exceptions import MaxConnectionsError, RedisError
from starlette.datastructures import MutableHeaders, State
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings
from http_api.errors import problem_response
from http_api.problems import ProblemError
from http_api.rate_leases import Leases
from http_api.rate_local import LocalLimits

log = logging.getLogger("vq.api")

WINDOW_S = 60
# Where a request's decision waits for the middleware to turn it into headers.
STATE_KEY = "rate_limit"
# Probes must answer whoever asks, as often as they ask.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})
# A limit's answer comes within this, or the process counts alone (LocalLimits).
REDIS_TIMEOUT_S = 0.5
# After Redis failed, the process counts alone this long before it is asked again (a dead Redis
# costs each request nothing, not a timeout).
STAND_ASIDE_S = 5.0
WARN_EVERY_S = 60.0
_BLOCKED_MAX = 100_000
# The `limits` library's sliding-window counter (its acquire_sliding_window.lua, then its
# sliding_window.lua for the headers), in one script: KEYS the previous and current windows'
# counters, ARGV the limit, the window (s) and the cost. Returns allowed (1/0) and the window as
# the read would: previous count, its TTL (ms), current count, its TTL (ms).
_CHARGE = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2]) * 1000
local amount = tonumber(ARGV[3])
local current_ttl = tonumber(redis.call('pttl', KEYS[2]))
if current_ttl > 0 and current_ttl < expiry then
    redis.call('rename', KEYS[2], KEYS[1])
    redis.call('set', KEYS[2], 0, 'PX', current_ttl + expiry)
end
local previous_count = tonumber(redis.call('get', KEYS[1])) or 0
local previous_ttl = math.max(tonumber(redis.call('pttl', KEYS[1])) or 0, 0)
local current_count = tonumber(redis.call('get', KEYS[2])) or 0
current_ttl = math.max(tonumber(redis.call('pttl', KEYS[2])) or 0, 0)
local weighted = math.floor(previous_count * previous_ttl / expiry) + current_count
local allowed = 0
if amount <= limit and weighted + amount <= limit then
    allowed = 1
    if redis.call('exists', KEYS[2]) == 1 then
        current_count = redis.call('incrby', KEYS[2], amount)
    else
        redis.call('set', KEYS[2], amount, 'PX', expiry * 2)
        current_count = amount
    end
    current_ttl = math.max(tonumber(redis.call('pttl', KEYS[2])) or 0, 0)
end
return {allowed, previous_count, previous_ttl, current_count, current_ttl}
"""


@dataclass(frozen=True, slots=True)
class Decision:
    """One charge's outcome, as the headers tell it."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # seconds until the next request would be allowed again (0: now)

    @property
    def retry_after_s(self) -> int:
        return max(1, self.reset_s)

    def headers(self) -> dict[str, str]:
        """draft-ietf-httpapi-ratelimit-headers: the quota, what is left, when it refills."""
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
            "RateLimit-Policy": f"{self.limit};w={WINDOW_S}",
        }


def decision(allowed: bool, limit: int, remaining: int, reset_in_s: float) -> Decision:
    return Decision(allowed, limit, max(0, min(limit, remaining)), max(0, math.ceil(reset_in_s)))


def window_state(
    limit: int, previous: int, previous_ttl_s: float, current: int, current_ttl_s: float
) -> tuple[int, float]:
    """(requests left, seconds until the quota refills) of a sliding-window counter as the
    `limits` Lua scripts keep it: the count is floor(previous * its time left / window) +
    current; the current window's key lives two windows from its start and becomes the previous
    one when less than a window is left. Refills: when a request would be allowed again (none
    left), else when the current window ends and its count starts to fade.

    (The library's own `get_window_stats` answers 0 s for a window that began this millisecond:
    its modulo of a 120 s time-to-live by 60 s.)"""
    ends_in = max(0.0, current_ttl_s - WINDOW_S if current_ttl_s > WINDOW_S else current_ttl_s)
    remaining = limit - math.floor(previous * previous_ttl_s / WINDOW_S) - current
    if remaining > 0:
        return remaining, ends_in
    room = limit - current  # what the previous window's fading count must fall below
    if room > 0 and previous > 0:
        return 0, max(0.0, previous_ttl_s - WINDOW_S * room / previous)
    # The current window alone is full: once it is the previous one, its count fades.
    return 0, ends_in + WINDOW_S * max(0.0, 1 - limit / max(current, 1))


def limit_key(identity: str) -> str:
    """The Redis key part of an identity: its kind in clear, the rest hashed (whatever a caller
    passes, no secret ever lands in Redis, and every key has one shape)."""
    kind, _, rest = identity.partition(":")
    return f"{kind if rest else 'id'}/{hashlib.sha256(identity.encode()).hexdigest()[:32]}"


def _header(scope: Scope, name: bytes) -> str | None:
    values = [v for k, v in scope.get("headers", ()) if k == name]
    return b",".join(values).decode("latin-1") if values else None


def has_credentials(scope: Scope) -> bool:
    """Whether the request carries an API key or access token (a bearer header or
    `?access_token=`), valid or not."""
    if (_header(scope, b"authorization") or "").strip():
        return True
    return _query_token(scope) is not None


def _query_token(scope: Scope) -> str | None:
    query = scope.get("query_string", b"").decode("latin-1")
    return next((value for name, value in parse_qsl(query) if name == "access_token"), None)


def bearer(scope: Scope) -> str | None:
    """The secret a request authenticates with: `Authorization: Bearer <secret>`, else
    `?access_token=` (an EventSource cannot send headers)."""
    scheme, _, secret = (_header(scope, b"authorization") or "").partition(" ")
    return secret if scheme.lower() == "bearer" else _query_token(scope)


def client_address(scope: Scope, trust_forwarded_for: bool) -> str:
    """Whom an anonymous request is counted against. Behind the operator's proxy, the address
    that proxy saw: the LAST of X-Forwarded-For (what came before it, the client wrote itself,
    and a limit it could rewrite at will would limit nothing). IPv6 is counted per /64, the
    block one subscriber holds."""
    peer = scope.get("client")
    address = peer[0] if peer else ""
    if trust_forwarded_for:
        forwarded = _header(scope, b"x-forwarded-for")
        if forwarded and forwarded.split(",")[-1].strip():
            address = forwarded.split(",")[-1].strip()
    try:
        parsed = ipaddress.ip_address(address.strip("[]").partition("%")[0])
    except ValueError:
        return address[:100] or "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


class RateLimiter:
    """The process's limiter (`app.state.rate_limiter`). Its storage uses the connection pool of
    the Redis client the app's lifespan makes and closes (`app.state.services.redis`): nothing
    connects at import or before the app starts."""

    def __init__(
        self, settings: Settings, state: State, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.default_per_minute = settings.rate_limit_per_minute
        self.trust_forwarded_for = settings.trust_forwarded_for
        self._prefix = f"{settings.redis_prefix}:ratelimit"
        self._state = state
        self._clock = clock
        self._client: aioredis.Redis | None = None
        self._script: AsyncScript | None = None
        self._aside_until = -math.inf
        self._warned_at = -math.inf
        # Addresses over their limit, until when (this replica's memory: refused at no cost).
        self._blocked: TTLCache[str, float] = TTLCache(_BLOCKED_MAX, WINDOW_S, clock)
        self._leases = Leases(clock)
        self._local = LocalLimits(clock)

    def _charger(self) -> AsyncScript | None:
        services = getattr(self._state, "services", None)
        client: aioredis.Redis | None = getattr(services, "redis", None)
        if client is None:  # the app has not started (or has no Redis): nothing to limit with
            return None
        if self._script is None or client is not self._client:
            self._client, self._script = client, client.register_script(_CHARGE)
        return self._script

    async def decide(self, identity: str, per_minute: int) -> Decision | None:
        """Charge one request to `identity`; counted by this process alone when Redis does not
        answer; None when the app has no Redis. A busy caller is charged a lease at a time
        (rate_leases.py)."""
        now = self._clock()
        if now < self._aside_until:
            return decision(*self._local.decide(identity, per_minute))
        spent = self._leases.spend(identity, per_minute, now)
        if spent is not None:
            return decision(True, per_minute, spent.remaining, spent.reset_s)
        charger = self._charger()
        if charger is None:
            return None
        amount = self._leases.size(identity, per_minute)
        answer = await self._charge(charger, identity, per_minute, amount)
        if answer is not None and not answer[0] and amount > 1:
            # No room for a whole lease: this request alone, exactly at the edge (and the
            # caller's next ones too, for a while).
            self._leases.near_limit(identity)
            amount = 1
            answer = await self._charge(charger, identity, per_minute, amount)
        if answer is None:
            return decision(*self._local.decide(identity, per_minute))
        allowed, previous, previous_ms, count, count_ms = answer
        remaining, reset_in = window_state(
            per_minute, previous, max(0, previous_ms) / 1000, count, max(0, count_ms) / 1000
        )
        if allowed and amount > 1:
            self._leases.hold(identity, per_minute, amount - 1, remaining, reset_in, now)
            remaining += amount - 1
        return decision(bool(allowed), per_minute, remaining, reset_in)

    async def _charge(
        self, charger: AsyncScript, identity: str, per_minute: int, amount: int
    ) -> list[int] | None:
        """`_CHARGE` for `amount` requests: [allowed, the window's counts and times to live];
        None when Redis did not answer."""
        item = RateLimitItemPerMinute(per_minute)
        current = f"{self._prefix}:{{{item.key_for(limit_key(identity))}}}"
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                answer = await charger(
                    keys=[f"{current}/-1", current], args=[per_minute, item.get_expiry(), amount]
                )
        except MaxConnectionsError as busy:
            # Redis answers; this process has every connection of its pool in use (a burst):
            # this request is counted here, the next ones are charged as usual.
            self._warn(busy)
            return None
        except (RedisError, OSError, TimeoutError) as failure:
            self.stand_aside(failure)
            return None
        return [int(v or 0) for v in answer]

    def stand_aside(self, failure: BaseException) -> None:
        self._aside_until = self._clock() + STAND_ASIDE_S
        self._warn(failure)

    def _warn(self, failure: BaseException) -> None:
        now = self._clock()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "rate limits are off for now (%s: %s): each API process counts alone",
                type(failure).__name__,
                failure,
            )

    def vouches_for(self, scope: Scope) -> bool:
        """Whether the request's credentials are ones this process knows to be good: an address
        refused for guessing keys does not refuse the valid keys sent from it (the same NAT, or
        a proxy whose clients' addresses are not trusted)."""
        services = getattr(self._state, "services", None)
        authenticator = getattr(services, "authenticator", None)
        return authenticator is not None and authenticator.vouches_for(bearer(scope))

    def blocked_for(self, address: str) -> int:
        """Seconds this replica still refuses `address` (0: not refused)."""
        until = self._blocked.get(address)
        return 0 if until is None else max(0, math.ceil(until - self._clock()))

    def block(self, address: str, decided: Decision) -> None:
        self._blocked[address] = self._clock() + decided.retry_after_s


async def charge(conn: HTTPConnection, identity: str, per_minute: int) -> None:
    """Count one request of an authenticated caller ("key:<id>" or "user:<id>") against its
    limit; over it, a 429 `rate-limited` with Retry-After. The answer's `RateLimit-*` headers
    are added by the middleware (429s included)."""
    limiter: RateLimiter = conn.app.state.rate_limiter
    decided = await limiter.decide(identity, per_minute)
    if decided is None:
        return
    conn.scope.setdefault("state", {})[STATE_KEY] = decided
    if not decided.allowed:
        raise refused(decided)


def refused(decided: Decision) -> ProblemError:
    return ProblemError(
        "rate-limited",
        f"over {decided.limit} requests a minute; retry in {decided.retry_after_s}s",
        headers={"Retry-After": str(decided.retry_after_s), **decided.headers()},
    )


class RateLimitMiddleware:
    """Charges requests without credentials to their address, and turns any request's decision
    (its own, or `charge()`'s) into headers. Pure ASGI: an event stream is never buffered.

    Requests with credentials are charged by `charge()` to their key or person, not here; but
    one that no key or person was charged for (its credentials refused, or sent to a public
    route) counts against its address afterwards, and an address over its limit is refused
    before its credentials are looked at (guessing keys costs a guesser, not the database), but
    for keys this process found valid lately and access tokens (`vouches_for`)."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        # Made here, before the app sees the scope: `charge()` writes into this same dict.
        state: dict[str, Any] = scope.setdefault("state", {})
        address = client_address(scope, self.limiter.trust_forwarded_for)
        identity = "ip:" + address
        credentials = has_credentials(scope)
        if not credentials:
            decided = await self.limiter.decide(identity, self.limiter.default_per_minute)
            if decided is not None:
                state[STATE_KEY] = decided
                if not decided.allowed:
                    await self._refuse(scope, receive, send, decided)
                    return
        elif (wait := self.limiter.blocked_for(address)) and not self.limiter.vouches_for(scope):
            limit = self.limiter.default_per_minute
            await self._refuse(scope, receive, send, Decision(False, limit, 0, wait))
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                found = state.get(STATE_KEY)
                if isinstance(found, Decision):
                    headers = MutableHeaders(scope=message)
                    for name, value in found.headers().items():
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
        if credentials and STATE_KEY not in state:
            # Credentials no key or person was charged for (refused, or sent to a route that
            # takes none): the address pays, so a made-up header is no way around its limit.
            decided = await self.limiter.decide(identity, self.limiter.default_per_minute)
            if decided is not None and not decided.allowed:
                self.limiter.block(address, decided)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, decided: Decision) -> None:
        response = problem_response(refused(decided), Request(scope))
        await response(scope, receive, send)


def install(app: FastAPI, settings: Settings) -> None:
    """Add the rate-limit middleware to `app`; `charge()` finds the limiter on `app.state`."""
    limiter = RateLimiter(settings, app.state)
    app.state.rate_limiter = limiter
    app.add_middleware(RateLimitMiddleware, limiter=limiter)
