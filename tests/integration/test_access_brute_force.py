"""Brute force (acceptance 4, second half): 10,000 sign-in attempts against one account from one
address lock it without a single 5xx, while other organisations' people keep signing in (the P99
of their sign-ins is printed). In-process API on real PostgreSQL and Redis.

The deployment-wide rate limit is raised for this test: it would stop the flood by address after
1,000 requests (acceptance 5 tests that), and here the account's own lock-out is what is shown.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

import eventstore.pool
from access.organisations import insert_tenant
from access.passwords import hash_password
from access.users import insert_user
from core.settings import Settings
from eventstore.pool import pooled
from vq.api import create_app

ATTEMPTS = 10_000
# The attacker's connections. The flood and the API share this process's one event loop (the
# client's side costs as much as the server's): with 32, each legitimate sign-in waited behind
# 32 of the attacker's steps at each of its awaits, P99 2.0 s during the flood on a quiet machine
# (0.4 s alone) and over the 10 s deadline twice under make test's load. With 16 the flood takes
# as long (13.2-13.4 s) and the others' P99 is 0.6-0.7 s.
CONCURRENCY = 16
PASSWORD = "violet tram under the pier"
ATTACKER = ("203.0.113.7", 40000)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "login_backoff_after": 3,
            "login_lockout_after": 4,  # locked after 0 + 0 + 2 s of back-off
            "login_lockout_s": 900.0,
            "rate_limit_per_minute": 1_000_000,
        }
    )


@pytest.fixture
async def app(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FastAPI]:
    # The flood runs in this process, on the API's own event loop, beside make test's other
    # workers on two cores: a legitimate sign-in then once waited over the pool's 1 s for a
    # connection (a 503, load shedding, not the lock-out this test is about). Its own pool waits
    # longer; the P99 it prints still tells how long the sign-ins took.
    monkeypatch.setattr(eventstore.pool, "POOL_TIMEOUT_S", 5.0)
    made = create_app(settings)
    async with made.router.lifespan_context(made):
        yield made


async def people(app: FastAPI, organisation: str, count: int) -> tuple[str, list[str]]:
    """An organisation with `count` people who have PASSWORD; its id and their emails."""
    pool = app.state.services.pool
    hashed = await hash_password(PASSWORD)
    async with pooled(pool) as conn, conn.transaction():
        tenant_id = await insert_tenant(conn, organisation)
        emails = [f"p{n}@{organisation.lower()}.example" for n in range(count)]
        for email in emails:
            await insert_user(
                conn,
                tenant_id=tenant_id,
                email=email,
                name=email,
                role="staff",
                password_hash=hashed,
                verified=True,
            )
    return tenant_id, emails


def client(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://vq.test", timeout=30.0)


def login_body(tenant_id: str, email: str, password: str) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "email": email, "password": password}


async def flood(app: FastAPI, tenant_id: str, email: str) -> Counter[tuple[int, str]]:
    """ATTEMPTS wrong passwords from one address, CONCURRENCY at a time."""
    outcomes: Counter[tuple[int, str]] = Counter()
    next_attempt = iter(range(ATTEMPTS))

    async def attacker(http: httpx.AsyncClient) -> None:
        for n in next_attempt:
            answer = await http.post(
                "/v1/auth/login", json=login_body(tenant_id, email, f"guess-{n:06d}-x")
            )
            kind = answer.json().get("type", "") if answer.status_code >= 400 else ""
            outcomes[(answer.status_code, kind)] += 1
            if answer.status_code == 429:
                assert int(answer.headers["retry-after"]) >= 1

    # A task group, not gather: one that fails cancels the rest, so none is left mid-request
    # (holding a transaction) once the test has ended.
    async with client(app, ATTACKER[0]) as http, asyncio.TaskGroup() as group:
        for _ in range(CONCURRENCY):
            group.create_task(attacker(http))
    return outcomes


async def sign_ins(
    app: FastAPI, orgs: list[tuple[str, list[str]]], until: asyncio.Event, least: int
) -> list[float]:
    """Other organisations' people sign in over and over (each from an address of their own)
    until `until` is set and at least `least` sign-ins are done; each one's seconds."""
    latencies: list[float] = []
    everyone = [(tenant_id, email) for tenant_id, emails in orgs for email in emails]

    async def person(index: int, tenant_id: str, email: str) -> None:
        async with client(app, f"198.51.100.{index + 1}") as http:
            while not until.is_set() or len(latencies) < least:
                started = time.perf_counter()
                answer = await http.post(
                    "/v1/auth/login", json=login_body(tenant_id, email, PASSWORD)
                )
                latencies.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text
                await asyncio.sleep(0.02)

    async with asyncio.TaskGroup() as group:
        for i, (t, e) in enumerate(everyone):
            group.create_task(person(i, t, e))
    return latencies


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def audited(settings: Settings, tenant_id: str) -> Counter[str]:
    async with await psycopg.AsyncConnection.connect(settings.pg_url) as conn:
        await conn.execute(f'SET search_path TO "{settings.db_schema}"')
        rows = await (
            await conn.execute("SELECT action FROM audit_log WHERE tenant_id = %s", (tenant_id,))
        ).fetchall()
    return Counter(row[0] for row in rows)


async def test_ten_thousand_guesses_lock_the_account_and_others_sign_in_unhindered(
    app: FastAPI, settings: Settings
) -> None:
    victim_tenant, [victim] = await people(app, "Target", 1)
    orgs = [await people(app, name, 3) for name in ("Bank", "Library")]

    calm = asyncio.Event()
    calm.set()
    baseline = await sign_ins(app, orgs, calm, least=30)

    done = asyncio.Event()
    started = time.monotonic()
    async with asyncio.TaskGroup() as group:
        flooding = group.create_task(flood(app, victim_tenant, victim))
        flooding.add_done_callback(lambda _: done.set())
        during = await sign_ins(app, orgs, done, least=30)
    outcomes = flooding.result()
    seconds = time.monotonic() - started

    print(
        f"\n{ATTEMPTS} guesses in {seconds:.1f} s: {dict(outcomes)}"
        f"\nother organisations' sign-ins: P99 {p99(baseline) * 1000:.0f} ms alone, "
        f"{p99(during) * 1000:.0f} ms during the flood ({len(during)} sign-ins, all 200)"
    )
    assert sum(outcomes.values()) == ATTEMPTS
    assert not [status for status, _ in outcomes if status >= 500]
    # Exactly as many guesses were checked as the lock-out allows; every other one was refused
    # before any hashing.
    assert outcomes[(401, "/problems/invalid-credentials")] == settings.login_lockout_after
    refused = outcomes[(429, "/problems/too-many-attempts")]
    assert refused == ATTEMPTS - settings.login_lockout_after

    # Locked: the right password is refused too (from anywhere), for the lock-out's length.
    async with client(app, "192.0.2.50") as http:
        answer = await http.post("/v1/auth/login", json=login_body(victim_tenant, victim, PASSWORD))
    assert answer.status_code == 429
    assert answer.json()["detail"].startswith("this account is locked")
    # The lock's 15 minutes, less however long the flood took on this machine.
    assert 0 < int(answer.headers["retry-after"]) <= settings.login_lockout_s
    actions = await audited(settings, victim_tenant)
    assert actions["login.failed"] == settings.login_lockout_after
    assert actions["account.locked"] == 1
    assert actions["login"] == 0


async def test_a_success_resets_the_count_and_an_unknown_email_is_counted_too(
    app: FastAPI, settings: Settings
) -> None:
    tenant_id, [email] = await people(app, "Reset", 1)
    async with client(app, "192.0.2.60") as http:

        async def attempt(who: str, password: str) -> httpx.Response:
            return await http.post("/v1/auth/login", json=login_body(tenant_id, who, password))

        for _ in range(2):  # below the back-off bound, twice, with a success between
            assert (await attempt(email, "wrong password 1")).status_code == 401
            assert (await attempt(email, "wrong password 2")).status_code == 401
            assert (await attempt(email, PASSWORD)).status_code == 200
        # An address nobody has backs off just the same (nothing tells it apart).
        ghost = "ghost@reset.example"
        answers = [await attempt(ghost, f"wrong password {n}") for n in range(4)]
        assert [a.status_code for a in answers] == [401, 401, 401, 429]
        assert answers[3].headers["retry-after"] in ("1", "2")
        # However the address is typed, it is the same counter.
        assert (await attempt(ghost.upper(), "wrong password 9")).status_code == 429
        assert (await attempt(email.upper(), "wrong password 9")).status_code == 401
