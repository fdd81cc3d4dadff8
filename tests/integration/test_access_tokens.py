"""Access tokens, signing keys and refresh-token sessions on the real PostgreSQL and Redis.

Several `AccessTokens` on one database stand for several API replicas: they make one first key
between them, verify each other's tokens, and keep verifying across a rotation. Refresh tokens
rotate once each; a reused one ends its whole family; two rotations of one token at once give
exactly one next token. Over HTTP, every kind of bad token is a 401 problem with
`WWW-Authenticate: Bearer`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import jwt
import psycopg
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from access import signing_keys
from access.sessions import Grant, RefreshRefused, RefreshReused, Sessions, token_hash
from access.signing_keys import KeyRing, SigningKey, SigningUnavailable
from access.tokens import AccessTokens, DenyListUnavailable, InvalidToken
from access.users import insert_user
from core.errors import Unavailable
from core.settings import Settings
from eventstore.pool import open_pool
from tests.integration.conftest import ApiClient
from tests.integration.servers import settings_env


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(settings.redis_dsn)
    try:
        yield client
    finally:
        await client.aclose()


def replica(pool: Any, redis: aioredis.Redis, settings: Settings) -> tuple[AccessTokens, KeyRing]:
    ring = KeyRing(pool, settings)
    return AccessTokens(pool, redis, settings, keys=ring), ring


async def issue(tokens: AccessTokens, tenant_id: str | None = None, **changes: Any) -> str:
    fields: dict[str, Any] = {
        "tenant_id": tenant_id or str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "role": "viewer",
        "session_id": str(uuid.uuid4()),
        "mfa": False,
        "queues": None,
        **changes,
    }
    token, _ = await tokens.issue(**fields)
    return token


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def stored_keys(settings: Settings) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{settings.db_schema}"')
        return list(
            conn.execute(
                "SELECT kid, private_key, retired_at FROM signing_keys ORDER BY created_at"
            ).fetchall()
        )


def sql(settings: Settings, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{settings.db_schema}"')
        cur = conn.execute(statement, args)
        return list(cur.fetchall()) if cur.description else []


# Signing keys and access tokens.


async def test_replicas_make_one_first_key_and_verify_each_others_tokens(
    settings: Settings, pool: Any, redis: aioredis.Redis
) -> None:
    replicas = [replica(pool, redis, settings)[0] for _ in range(6)]
    tokens = await asyncio.gather(*(issue(r) for r in replicas))
    assert len({kid_of(t) for t in tokens}) == 1
    ((kid, sealed, retired),) = stored_keys(settings)
    assert kid == kid_of(tokens[0]) and retired is None
    assert b"PRIVATE KEY" not in bytes(sealed)  # sealed, not a PEM anyone could use
    for verifier in replicas:
        for token in tokens:
            assert (await verifier.verify(token)).role == "viewer"
    (published,) = (await replicas[0].jwks())["keys"]
    assert published["kid"] == kid and set(published) == {
        "kty",
        "crv",
        "x",
        "y",
        "kid",
        "use",
        "alg",
    }


async def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_kid(
    settings: Settings, pool: Any, redis: aioredis.Redis
) -> None:
    rotating, _ = replica(pool, redis, settings)
    elsewhere, _ = replica(pool, redis, settings)
    before = await issue(rotating)
    assert (await elsewhere.verify(before)).role == "viewer"  # `elsewhere` has loaded its keys

    new_kid = await rotating.rotate(ahead_s=0)
    after = await issue(rotating)
    assert kid_of(after) == new_kid != kid_of(before)
    for verifier in (rotating, elsewhere):  # `elsewhere` meets an unknown kid and reloads
        assert (await verifier.verify(before)).role == "viewer"
        assert (await verifier.verify(after)).role == "viewer"
    assert {k["kid"] for k in (await rotating.jwks())["keys"]} == {kid_of(before), new_kid}
    keys = {row[0]: row[2] for row in stored_keys(settings)}
    assert keys[kid_of(before)] is not None and keys[new_kid] is None
    audited = sql(
        settings, "SELECT actor, subject FROM audit_log WHERE action = 'signing_key.rotated'"
    )
    assert audited == [("operator", new_kid)]


async def test_a_rotation_publishes_the_next_key_before_it_signs(
    settings: Settings, pool: Any, redis: aioredis.Redis
) -> None:
    tokens, ring = replica(pool, redis, settings)
    first = kid_of(await issue(tokens))
    upcoming = await tokens.rotate()  # default: signs PUBLISH_AHEAD_S from now
    assert kid_of(await issue(tokens)) == first
    assert {k["kid"] for k in (await tokens.jwks())["keys"]} == {first, upcoming}
    states = {key.kid: key.state(signing_keys._now(), settings) for key in await ring.published()}
    assert states == {first: "current", upcoming: "next"}
    # Once its time comes, the next key signs; the first still verifies.
    sql(
        settings,
        "UPDATE signing_keys SET active_from = now() - interval '1 second' WHERE kid = %s",
        upcoming,
    )
    sql(
        settings,
        "UPDATE signing_keys SET retired_at = now() - interval '1 second' WHERE kid = %s",
        first,
    )
    fresh, _ = replica(pool, redis, settings)
    assert kid_of(await issue(fresh)) == upcoming


async def test_a_key_past_its_window_verifies_nothing_and_leaves_the_jwks(
    settings: Settings, pool: Any, redis: aioredis.Redis
) -> None:
    tokens, _ = replica(pool, redis, settings)
    old_token = await issue(tokens)
    await tokens.rotate(ahead_s=0)
    window = signing_keys.verifies_for_s(settings)
    sql(
        settings,
        "UPDATE signing_keys SET retired_at = now() - %s, created_at = now() - %s WHERE kid = %s",
        timedelta(seconds=window + 5),
        timedelta(seconds=window + 100),
        kid_of(old_token),
    )
    fresh, _ = replica(pool, redis, settings)  # a replica started now
    with pytest.raises(InvalidToken, match="unknown key"):
        await fresh.verify(old_token)
    assert kid_of(old_token) not in {k["kid"] for k in (await fresh.jwks())["keys"]}
    await fresh.rotate(ahead_s=0)  # a rotation deletes keys past their window
    assert kid_of(old_token) not in {row[0] for row in stored_keys(settings)}


async def test_a_denied_session_is_refused_at_once_on_every_replica(
    settings: Settings, pool: Any, redis: aioredis.Redis
) -> None:
    one, _ = replica(pool, redis, settings)
    two, _ = replica(pool, redis, settings)
    session = str(uuid.uuid4())
    token, other = await issue(one, session_id=session), await issue(one)
    assert (await two.verify(token)).session_id == session
    await one.deny_session(session)
    for verifier in (one, two):
        with pytest.raises(InvalidToken, match="signed out"):
            await verifier.verify(token)
        assert (await verifier.verify(other)).session_id != session
    ttl = await redis.ttl(f"{settings.redis_prefix}:access:deny:{session}")
    assert settings.access_token_ttl_s < ttl <= settings.access_token_ttl_s + signing_keys.LEEWAY_S


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_redis_down_is_a_503_never_a_pass(
    settings: Settings, pool: Any, redis: aioredis.Redis
) -> None:
    tokens, _ = replica(pool, redis, settings)
    token = await issue(tokens)
    # Configured as the API's client is (vq/api.py): one quick retry.
    dead = aioredis.Redis(
        host="127.0.0.1", port=_dead_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 1)
    )
    try:
        blind = AccessTokens(pool, dead, settings)
        with pytest.raises(DenyListUnavailable) as caught:
            await blind.verify(token)
        assert isinstance(caught.value, Unavailable) and caught.value.retry_after_s > 0
        with pytest.raises(DenyListUnavailable):
            await blind.deny_session(str(uuid.uuid4()))
    finally:
        await dead.aclose()


async def test_a_key_sealed_under_another_secret_verifies_but_cannot_sign(
    settings: Settings, pool: Any, redis: aioredis.Redis
) -> None:
    tokens, _ = replica(pool, redis, settings)
    token = await issue(tokens)
    moved = settings.model_copy(update={"secret_key": "another-secret-key-0123456789abcdef"})
    stranger, _ = replica(pool, redis, moved)
    assert (await stranger.verify(token)).role == "viewer"
    with pytest.raises(SigningUnavailable):
        await issue(stranger)


async def test_a_flood_of_unknown_kids_reloads_the_keys_rarely(
    settings: Settings, pool: Any, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens, _ = replica(pool, redis, settings)
    await issue(tokens)
    loads = 0
    real_load = signing_keys.load_keys

    async def counted(*args: Any, **kwargs: Any) -> list[SigningKey]:
        nonlocal loads
        loads += 1
        return await real_load(*args, **kwargs)

    monkeypatch.setattr(signing_keys, "load_keys", counted)
    attacker = SigningKey.of(signing_keys.new_private_key(), created_at=signing_keys._now())
    bogus = []
    for _ in range(200):
        other = SigningKey.of(signing_keys.new_private_key(), created_at=signing_keys._now())
        header = {"kid": other.kid, "typ": "at+jwt"}
        bogus.append(jwt.encode({"x": 1}, attacker.private_key, algorithm="ES256", headers=header))
    started = time.monotonic()
    for token in bogus:  # one after another: each finds the ring loaded, then meets a new kid
        with pytest.raises(InvalidToken, match="unknown key"):
            await tokens.verify(token)
    elapsed = time.monotonic() - started
    assert 1 <= loads <= 1 + elapsed / signing_keys.UNKNOWN_KID_REFETCH_S
    assert loads <= 5, f"{loads} reloads for {len(bogus)} bogus kids in {elapsed:.1f} s"


async def test_vq_signing_keys_list_and_rotate(
    settings: Settings, pool: Any, redis: aioredis.Redis
) -> None:
    tokens, _ = replica(pool, redis, settings)
    first = kid_of(await issue(tokens))

    def vq(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "vq.cli", "signing-keys", *args],
            env=settings_env(settings),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert first in vq("list") and "current" in vq("list")
    rotated = vq("rotate")
    new_kid = rotated.split()[3].rstrip(":")
    listing = vq("list")
    assert f"{new_kid}" in listing and "next" in listing
    now = vq("rotate", "--now").split()[3].rstrip(":")
    fresh, _ = replica(pool, redis, settings)  # a replica started after the rotation
    newest = await issue(fresh)
    assert kid_of(newest) == now
    assert (await tokens.verify(newest)).role == "viewer"  # `tokens` reloads for the new kid


# Refresh-token sessions.


@pytest.fixture
def sessions(settings: Settings, pool: Any) -> Sessions:
    return Sessions(pool, settings)


async def person(pool: Any, tenant_id: str) -> str:
    """A new active person of the organisation (a session opens only for one); their id."""
    async with pool.connection() as conn:
        made = await insert_user(
            conn, tenant_id=tenant_id, email=f"{uuid.uuid4().hex}@clinic.example", name="P",
            role="staff", verified=True,
        )  # fmt: skip
    return made.user_id


async def start(sessions: Sessions, tenant_id: str, user_id: str | None = None) -> Grant:
    """A session of `user_id`, or of a new person."""
    user_id = user_id or await person(sessions._pool, tenant_id)
    return await sessions.start(tenant_id=tenant_id, user_id=user_id, mfa=True)


async def test_a_refresh_token_rotates_once(
    settings: Settings, sessions: Sessions, tenant_id: str
) -> None:
    first = await start(sessions, tenant_id)
    assert first.refresh_token.startswith("vqr_") and len(first.refresh_token) == 47
    assert first.expires_at > time.time() + settings.refresh_token_ttl_s - 60
    stored = sql(settings, "SELECT token_hash FROM refresh_tokens")
    assert stored == [(token_hash(first.refresh_token),)]  # the hash only, never the token
    second = await sessions.rotate(first.refresh_token)
    assert (second.session_id, second.tenant_id, second.user_id, second.mfa) == (
        first.session_id, first.tenant_id, first.user_id, True,
    )  # fmt: skip
    assert second.refresh_token != first.refresh_token
    third = await sessions.rotate(second.refresh_token)
    assert third.session_id == first.session_id
    assert "vqr_" not in repr(third)  # a grant's repr shows no token


async def test_a_reused_refresh_token_ends_its_whole_family(
    settings: Settings, sessions: Sessions, tenant_id: str
) -> None:
    first = await start(sessions, tenant_id)
    second = await sessions.rotate(first.refresh_token)  # the victim refreshes
    with pytest.raises(RefreshReused) as caught:  # the thief replays the stolen first token
        await sessions.rotate(first.refresh_token)
    assert caught.value.session_id == first.session_id
    # The family's newest token, however legitimate it looks, is refused too.
    with pytest.raises(RefreshRefused, match="ended"):
        await sessions.rotate(second.refresh_token)
    ((ended, reason),) = sql(
        settings,
        "SELECT ended_at, ended_reason FROM sessions WHERE session_id = %s",
        first.session_id,
    )
    assert ended is not None and reason == "reuse"
    audited = sql(
        settings,
        "SELECT tenant_id::text, subject FROM audit_log WHERE action = 'session.refresh_reused'",
    )
    assert audited == [(tenant_id, first.session_id)]
    # Another session of the same person is untouched.
    other = await start(sessions, tenant_id, first.user_id)
    assert (await sessions.rotate(other.refresh_token)).session_id == other.session_id


async def test_concurrent_rotations_of_one_token_give_exactly_one_next_token(
    settings: Settings, sessions: Sessions, tenant_id: str
) -> None:
    grant = await start(sessions, tenant_id)
    results = await asyncio.gather(
        *(sessions.rotate(grant.refresh_token) for _ in range(8)), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, Grant)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and len(lost) == 7
    assert all(isinstance(r, RefreshRefused) for r in lost)
    # The losers count as a reuse (a thief racing its victim looks the same): the family ends.
    assert any(isinstance(r, RefreshReused) for r in lost)
    with pytest.raises(RefreshRefused):
        await sessions.rotate(won[0].refresh_token)
    issued = sql(
        settings, "SELECT count(*) FROM refresh_tokens WHERE session_id = %s", grant.session_id
    )
    assert issued == [(2,)]


async def test_expired_unknown_and_garbage_refresh_tokens_are_refused(
    settings: Settings, sessions: Sessions, tenant_id: str
) -> None:
    grant = await start(sessions, tenant_id)
    sql(settings, "UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
    with pytest.raises(RefreshRefused, match="expired"):
        await sessions.rotate(grant.refresh_token)
    for garbage in ("", "vqr_", "vqr_" + "A" * 43, "vq_" + "A" * 43, "vqr_" + "x" * 5000,
                    "vqr_\x00", "vqr_é", None, 42):  # fmt: skip
        with pytest.raises(RefreshRefused):
            await sessions.rotate(garbage)  # type: ignore[arg-type]


async def test_end_and_end_all(
    settings: Settings, sessions: Sessions, tenant_id: str, pool: Any
) -> None:
    ana, someone_else = await person(pool, tenant_id), await person(pool, tenant_id)
    signed_out = await start(sessions, tenant_id, ana)
    await sessions.end(signed_out.session_id)
    with pytest.raises(RefreshRefused, match="ended"):
        await sessions.rotate(signed_out.refresh_token)
    phone, laptop = (
        await start(sessions, tenant_id, ana),
        await start(sessions, tenant_id, ana),
    )
    theirs = await start(sessions, tenant_id, someone_else)
    assert await sessions.end_all(tenant_id, ana) == sorted([phone.session_id, laptop.session_id])
    assert await sessions.end_all(tenant_id, ana) == []
    for grant in (phone, laptop):
        with pytest.raises(RefreshRefused):
            await sessions.rotate(grant.refresh_token)
    assert (await sessions.rotate(theirs.refresh_token)).user_id == someone_else
    # Unknown and malformed ids change nothing and raise nothing.
    await sessions.end(str(uuid.uuid4()))
    await sessions.end("not-a-session")
    assert await sessions.end_all(tenant_id, "nobody") == []
    assert await sessions.end_all(str(uuid.uuid4()), someone_else) == []


async def test_prune_deletes_what_no_longer_matters(
    settings: Settings, sessions: Sessions, tenant_id: str
) -> None:
    live, stale = await start(sessions, tenant_id), await start(sessions, tenant_id)
    sql(
        settings,
        "UPDATE refresh_tokens SET expires_at = now() - interval '2 days' WHERE session_id = %s",
        stale.session_id,
    )
    sql(
        settings,
        "UPDATE sessions SET created_at = now() - interval '30 days' WHERE session_id = %s",
        stale.session_id,
    )
    assert await sessions.prune() == 2
    assert sql(settings, "SELECT session_id::text FROM sessions") == [(live.session_id,)]
    assert (await sessions.rotate(live.refresh_token)).session_id == live.session_id


async def test_postgresql_down_is_unavailable(settings: Settings) -> None:
    dead = settings.model_copy(
        update={"database_url": f"postgresql://vq:vq@127.0.0.1:{_dead_port()}/vq"}
    )
    pool = await open_pool(dead, wait=False)
    try:
        with pytest.raises(Unavailable):
            await Sessions(pool, dead).start(
                tenant_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()), mfa=False
            )
        with pytest.raises(Unavailable):
            await Sessions(pool, dead).rotate("vqr_" + "A" * 43)
        with pytest.raises(Unavailable):
            await AccessTokens(pool, aioredis.Redis(), dead).jwks()
    finally:
        await pool.close()


# Over HTTP.


async def test_the_jwks_is_public_and_cacheable(api: ApiClient) -> None:
    response = await api.http.get("/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    assert "max-age=300" in response.headers["cache-control"]
    (key,) = response.json()["keys"]
    assert key["alg"] == "ES256" and key["use"] == "sig" and "d" not in key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_bad_access_tokens_are_401_problems(api: ApiClient, settings: Settings) -> None:
    pool = await open_pool(settings, wait=True)
    client = aioredis.Redis.from_url(settings.redis_dsn)
    try:
        tokens, ring = replica(pool, client, settings)
        good = await issue(tokens, api.tenant_id, role="viewer")
        key = await ring.signing_key()
        stranger = SigningKey.of(signing_keys.new_private_key(), created_at=key.created_at)
        claims = jwt.decode(good, options={"verify_signature": False})
        now = int(time.time())
        header, _, signature = good.split(".")

        def signed(with_key: SigningKey, **changes: Any) -> str:
            headers = {"kid": with_key.kid, "typ": "at+jwt"}
            return jwt.encode(
                {**claims, **changes}, with_key.private_key, algorithm="ES256", headers=headers
            )

        none_header = _b64(json.dumps({"alg": "none", "typ": "at+jwt", "kid": key.kid}).encode())
        bad = {
            "forged": f"{header}.{_b64(json.dumps({**claims, 'role': 'admin'}).encode())}.{signature}",
            "expired": signed(key, iat=now - 2000, exp=now - 1000),
            "alg none": f"{none_header}.{_b64(json.dumps(claims).encode())}.",
            "wrong kid": signed(stranger),
            "wrong audience": signed(key, aud="another-api"),
            "garbage": "a.b.c",
        }
        assert (
            await api.http.get("/v1/queues", headers={"Authorization": f"Bearer {good}"})
        ).status_code == 200
        for name, token in bad.items():
            response = await api.http.get(
                "/v1/queues", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 401, (name, response.text)
            assert response.headers["content-type"].startswith("application/problem+json"), name
            assert response.headers["www-authenticate"].startswith("Bearer"), name
            assert response.json()["type"].endswith("unauthorized"), name
        # Signed out: refused at once.
        await tokens.deny_session(claims["sid"])
        response = await api.http.get("/v1/queues", headers={"Authorization": f"Bearer {good}"})
        assert response.status_code == 401 and "signed out" in response.json()["detail"]
    finally:
        await client.aclose()
        await pool.close()
