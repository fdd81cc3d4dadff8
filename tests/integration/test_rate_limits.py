"""Rate limits on the real Redis: per key or person (`charge()`), per address for requests
without credentials, per organisation when it sets its own, and none at all (never a 5xx) when
Redis cannot answer."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import Depends, FastAPI, Request
from starlette.datastructures import State

from core.settings import Settings
from http_api import ratelimit
from http_api.errors import install_error_handlers
from http_api.ratelimit import RateLimiter, charge
from tests.integration.conftest import ApiClient
from tests.integration.servers import free_port
from vq.api import create_app

RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The product's default limit (the suite's settings raise it for the other tests)."""
    return settings.model_copy(update={"rate_limit_per_minute": 1000})


def _tiny_app(settings: Settings, client: aioredis.Redis) -> FastAPI:
    """Only the limiter: a route whose dependency charges the caller named by `X-Who`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = SimpleNamespace(redis=client)
        yield

    app = FastAPI(lifespan=lifespan)
    ratelimit.install(app, settings)
    install_error_handlers(app)

    async def charged(request: Request) -> None:
        await charge(request, f"key:{request.headers['x-who']}", int(request.headers["x-limit"]))

    @app.get("/thing", dependencies=[Depends(charged)])
    async def thing() -> dict[str, bool]:
        return {"ok": True}

    return app


@asynccontextmanager
async def _client(app: FastAPI, address: str = "192.0.2.10") -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://vq.test") as http:
            yield http


async def test_charge_counts_each_identity_on_its_own_and_refuses_past_its_limit(
    settings: Settings,
) -> None:
    redis = aioredis.Redis.from_url(settings.redis_dsn)
    try:
        async with _client(_tiny_app(settings, redis)) as http:
            alice = {"X-Who": "vq_alice_secret", "X-Limit": "5"}
            answers = [await http.get("/thing", headers=alice) for _ in range(7)]
            assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
            assert [a.headers["RateLimit-Remaining"] for a in answers] == list("4321000")
            assert all(a.headers["RateLimit-Limit"] == "5" for a in answers)
            assert answers[0].headers["RateLimit-Policy"] == "5;w=60"
            assert 55 <= int(answers[0].headers["RateLimit-Reset"]) <= 60
            refused = answers[-1]
            assert refused.json()["type"] == "/problems/rate-limited"
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
            bob = await http.get("/thing", headers={"X-Who": "bob", "X-Limit": "5"})
            assert (bob.status_code, bob.headers["RateLimit-Remaining"]) == (200, "4")
            # A tenant that raises its limit: a window of the new size at once.
            raised = await http.get("/thing", headers={**alice, "X-Limit": "6"})
            assert raised.status_code == 200
        keys = [k.decode() async for k in redis.scan_iter(f"{settings.redis_prefix}:ratelimit:*")]
        assert keys and not [k for k in keys if "alice" in k or "bob" in k]
    finally:
        await redis.aclose()


async def test_1200_requests_in_a_minute_from_one_key_only_the_first_1000_are_answered(
    api: ApiClient,
) -> None:
    """Acceptance 5: the rest are 429 with Retry-After; another key of the tenant goes on."""
    started = time.monotonic()
    answers = [await api.http.get("/v1/queues", headers=api.auth("staff")) for _ in range(1200)]
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"1,200 requests took {elapsed:.0f}s: not within one minute"
    statuses = [a.status_code for a in answers]
    assert statuses == [200] * 1000 + [429] * 200, {s: statuses.count(s) for s in set(statuses)}
    assert answers[0].headers["RateLimit-Remaining"] == "999"
    assert answers[999].headers["RateLimit-Remaining"] == "0"
    for refused in answers[1000:]:
        assert refused.json()["type"] == "/problems/rate-limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["RateLimit-Limit"] == "1000"
        assert refused.headers["RateLimit-Remaining"] == "0"
    other = await api.http.get("/v1/queues", headers=api.auth("viewer"))
    assert other.status_code == 200 and other.headers["RateLimit-Remaining"] == "999"
    print(f"\n1,200 requests in {elapsed:.1f}s ({1200 / elapsed:.0f}/s)")


async def test_an_organisation_sets_its_own_limit(api: ApiClient) -> None:
    body: dict[str, Any] = {"mfa_roles": [], "rate_limit_per_minute": 60, "cors_origins": []}
    for wrong in (59, 100_001, "many"):
        refused = await api.http.put(
            "/v1/settings/access", json={**body, "rate_limit_per_minute": wrong}, headers=api.auth()
        )
        assert refused.status_code == 422, refused.text
    changed = await api.http.put("/v1/settings/access", json=body, headers=api.auth())
    assert changed.status_code == 200, changed.text
    assert changed.json()["effective_rate_limit_per_minute"] == 60
    answers = [await api.http.get("/v1/queues", headers=api.auth("staff")) for _ in range(61)]
    assert [a.status_code for a in answers] == [200] * 60 + [429]
    assert answers[-1].headers["RateLimit-Limit"] == "60"
    # Back to the deployment's default (a limit of another size: a fresh window).
    reset = await api.http.put(
        "/v1/settings/access", json={**body, "rate_limit_per_minute": None}, headers=api.auth()
    )
    assert reset.json()["effective_rate_limit_per_minute"] == 1000
    again = await api.http.get("/v1/queues", headers=api.auth("staff"))
    assert (again.status_code, again.headers["RateLimit-Limit"]) == (200, "1000")


async def test_requests_without_credentials_are_limited_per_address(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"rate_limit_per_minute": 5}))
    async with _client(app) as http:
        forged = {"X-Forwarded-For": "198.51.100.1"}  # not trusted: the peer's address counts
        answers = [await http.get("/v1/clock", headers=forged) for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        assert [a.headers["RateLimit-Remaining"] for a in answers] == list("432100")
        assert answers[-1].json()["type"] == "/problems/rate-limited"
        assert int(answers[-1].headers["Retry-After"]) >= 1
        probe = await http.get("/healthz")  # probes are never limited
        assert probe.status_code == 200 and "ratelimit-limit" not in probe.headers
        elsewhere = httpx.ASGITransport(app=app, client=("192.0.2.11", 40000))
        async with httpx.AsyncClient(transport=elsewhere, base_url="http://vq.test") as other:
            assert (await other.get("/v1/clock")).status_code == 200


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
    settings: Settings,
) -> None:
    proxied = settings.model_copy(update={"rate_limit_per_minute": 2, "trust_forwarded_for": True})
    async with _client(create_app(proxied), address="10.0.0.1") as http:

        async def from_(address: str) -> int:
            # The client's own entry comes first; the proxy's (the last) is the one that counts.
            headers = {"X-Forwarded-For": f"203.0.113.250, {address}"}
            return (await http.get("/v1/clock", headers=headers)).status_code

        assert [await from_("198.51.100.1") for _ in range(3)] == [200, 200, 429]
        assert [await from_("198.51.100.2") for _ in range(2)] == [200, 200]


async def test_credentials_nobody_was_charged_for_count_against_the_address(
    settings: Settings,
) -> None:
    app = create_app(settings.model_copy(update={"rate_limit_per_minute": 5}))
    async with app.router.lifespan_context(app):
        tenant_id, admin = await app.state.services.directory.create_tenant("Clinic")
        guesser = httpx.ASGITransport(app=app, client=("192.0.2.20", 40000))
        honest = httpx.ASGITransport(app=app, client=("192.0.2.21", 40000))
        async with (
            httpx.AsyncClient(transport=guesser, base_url="http://vq.test") as bad,
            httpx.AsyncClient(transport=honest, base_url="http://vq.test") as good,
        ):
            wrong = {"Authorization": "Bearer vq_guessed0000000000000000000000"}
            guesses = [(await bad.get("/v1/queues", headers=wrong)).status_code for _ in range(8)]
            assert guesses == [401] * 6 + [429] * 2
            assert (await good.get("/v1/queues", headers=wrong)).status_code == 401
            right = {"Authorization": f"Bearer {admin.secret}"}
            assert (await good.get("/v1/queues", headers=right)).status_code == 200
            # From the guesser's address (a NAT, a proxy not trusted with X-Forwarded-For): a
            # key this process found valid lately is served; one it never saw waits its turn.
            assert (await bad.get("/v1/queues", headers=right)).status_code == 200
            fresh = await app.state.services.directory.create_key(tenant_id, "viewer", "viewer")
            unseen = {"Authorization": f"Bearer {fresh.secret}"}
            assert (await bad.get("/v1/queues", headers=unseen)).status_code == 429
        # A made-up header on a route that takes no credentials is no way around the limit.
        sly = httpx.ASGITransport(app=app, client=("192.0.2.22", 40000))
        async with httpx.AsyncClient(transport=sly, base_url="http://vq.test") as http:
            public = [(await http.get("/v1/clock", headers=wrong)).status_code for _ in range(7)]
            assert public == [200] * 6 + [429]


async def test_with_redis_down_each_process_counts_alone(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis not answering (down here; in a burst, too busy to be heard in time) neither takes
    the API down nor lets the limits go: the process counts each caller in its own memory."""
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: the real Redis stays up
    dead = settings.model_copy(update={"redis_url": closed, "rate_limit_per_minute": 2})
    app = create_app(dead)
    with caplog.at_level(logging.WARNING, logger="vq.api"):
        async with _client(app) as http:
            answers = [await http.get("/v1/clock") for _ in range(3)]
            assert [a.status_code for a in answers] == [200, 200, 429]
            assert all(h in a.headers for h in RATE_HEADERS for a in answers)
            assert [a.headers["ratelimit-remaining"] for a in answers] == ["1", "0", "0"]
            assert 0 < int(answers[2].headers["retry-after"]) <= 60
            _, admin = await app.state.services.directory.create_tenant("Clinic")
            created = await http.post(
                "/v1/queues",
                json={"name": "Front desk", "counters": ["1"]},
                headers={"Authorization": f"Bearer {admin.secret}"},
            )
            assert created.status_code == 201, created.text  # a key has its own count
        redis = aioredis.Redis.from_url(closed)
        try:
            async with _client(_tiny_app(dead, redis)) as http:
                charged = [
                    await http.get("/thing", headers={"X-Who": "a", "X-Limit": "1"})
                    for _ in range(2)
                ]
                assert [c.status_code for c in charged] == [200, 429]
        finally:
            await redis.aclose()
    warnings = [r for r in caplog.records if "rate limits are off" in r.getMessage()]
    assert len(warnings) == 2  # once per limiter (two apps), not once per request


async def test_a_busy_connection_pool_is_not_an_outage(settings: Settings) -> None:
    """Every connection of the process's pool in use (a burst): that request is counted by the
    process, and the next is charged to Redis at once (no standing aside as for a dead Redis)."""
    client = aioredis.Redis.from_url(settings.redis_dsn, max_connections=1)
    state = State()
    state.services = SimpleNamespace(redis=client)
    limiter = RateLimiter(settings, state)
    try:
        held = await client.connection_pool.get_connection()
        try:
            alone = await limiter.decide("key:a", 5)
            assert alone is not None and alone.allowed and alone.remaining == 4
        finally:
            await client.connection_pool.release(held)
        decided = await limiter.decide("key:a", 5)
        assert decided is not None and decided.remaining == 4  # Redis's count: the first
    finally:
        await client.aclose()


async def test_a_busy_caller_is_charged_in_leases_and_refused_at_exactly_its_limit(
    settings: Settings,
) -> None:
    """A caller sending request after request is charged to Redis a block at a time (far fewer
    round trips than requests), yet its RateLimit-Remaining counts down by one, and it is
    refused at exactly its limit; the window in Redis holds exactly what was served."""
    state = State()
    redis = aioredis.Redis.from_url(settings.redis_dsn)
    state.services = SimpleNamespace(redis=redis)
    limiter = RateLimiter(settings, state)
    trips = 0
    charge_once = limiter._charge

    async def counted(*args: Any) -> list[int] | None:  # the real charge, counted
        nonlocal trips
        trips += 1
        return await charge_once(*args)

    limiter._charge = counted  # type: ignore[method-assign]
    who = f"key:leases-{time.monotonic_ns()}"
    try:
        decided = [await limiter.decide(who, 400) for _ in range(430)]
        assert all(d is not None for d in decided)
        assert [d.allowed for d in decided if d] == [True] * 400 + [False] * 30
        assert [d.remaining for d in decided if d][:400] == list(range(399, -1, -1))
        # One each for the first few, the last few and every refusal; leases between.
        assert trips < 100, trips
        print(f"\n430 requests, {trips} round trips to Redis")
        keys = [k async for k in redis.scan_iter(f"{settings.redis_prefix}:ratelimit:*")]
        counts = [int(await redis.get(k) or 0) for k in keys if not k.endswith(b"/-1")]
        assert 400 in counts, trips  # served = charged: no lease left over
    finally:
        await redis.aclose()
