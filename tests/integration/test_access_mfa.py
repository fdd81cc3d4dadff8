"""Two-factor authentication on real PostgreSQL: the store (access/mfa.py) and the person's own
routes (/v1/me/mfa), with real access tokens."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest

from access import mfa
from access.passwords import hash_password
from access.users import insert_user
from core.errors import Unavailable
from core.settings import Settings
from eventstore.pool import open_pool
from vq.api import create_app

NOW = datetime.now(UTC).replace(microsecond=0)


def code(secret: str, at: datetime, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(at + timedelta(seconds=30 * steps))


async def person(pool: Any, tenant_id: str, email: str = "ana@clinic.example") -> mfa.Person:
    async with pool.connection() as conn:
        made = await insert_user(conn, tenant_id=tenant_id, email=email, name="Ana", role="staff")
    return mfa.Person(tenant_id, made.user_id)


async def audit_actions(pool: Any, subject: str) -> list[tuple[str, str]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT action, actor FROM audit_log WHERE subject = %s ORDER BY seq", (subject,)
        )
        return [(row[0], row[1]) for row in await cur.fetchall()]


async def enrolled(
    factors: mfa.SecondFactors, who: mfa.Person, at: datetime = NOW
) -> tuple[str, list[str]]:
    made = await factors.enrol(who, at=at)
    codes = await factors.confirm(who, code(made.secret, at), actor="user:x", at=at)
    return made.secret, codes


# The store.


async def test_enrol_stays_pending_until_a_code_confirms_it(
    pool: Any, settings: Settings, tenant_id: str
) -> None:
    who, factors = await person(pool, tenant_id), mfa.SecondFactors(pool, settings.secret_key)
    assert await factors.status(who) == mfa.MfaStatus(False, False, 0, None)

    first = await factors.enrol(who, at=NOW)
    assert "issuer=Virtual%20Queue" in first.otpauth_uri
    assert "ana%40clinic.example" in first.otpauth_uri and first.qr_svg.startswith("<svg")
    assert (await factors.status(who)).pending
    assert not await mfa.mfa_enrolled(pool, *who.ids)  # pending is not enrolled
    assert not await mfa.check_second_factor(pool, settings, *who.ids, code(first.secret, NOW))

    # Starting again replaces the pending secret: the first one's codes confirm nothing.
    second = await factors.enrol(who, at=NOW)
    assert second.secret != first.secret
    stale = code(first.secret, NOW)
    if stale not in {code(second.secret, NOW, s) for s in (-1, 0, 1)}:
        with pytest.raises(mfa.WrongCode):
            await factors.confirm(who, stale, actor="user:x", at=NOW)

    codes = await factors.confirm(who, code(second.secret, NOW), actor="user:ana", at=NOW)
    assert len(codes) == 10
    status = await factors.status(who)
    assert (status.enrolled, status.pending, status.recovery_codes_left) == (True, False, 10)
    assert await mfa.mfa_enrolled(pool, *who.ids)
    assert await audit_actions(pool, who.user_id) == [("mfa.enrolled", "user:ana")]

    with pytest.raises(mfa.AlreadyEnrolled):
        await factors.enrol(who, at=NOW)
    with pytest.raises(mfa.AlreadyEnrolled):
        await factors.confirm(who, code(second.secret, NOW, 1), actor="user:ana", at=NOW)


async def test_confirming_without_an_enrolment_or_for_nobody_fails_clearly(
    pool: Any, settings: Settings, tenant_id: str
) -> None:
    who, factors = await person(pool, tenant_id), mfa.SecondFactors(pool, settings.secret_key)
    with pytest.raises(mfa.NotEnrolled):
        await factors.confirm(who, "123456", actor="user:x", at=NOW)
    with pytest.raises(mfa.NotEnrolled):
        await factors.disable(who, "123456", actor="user:x", at=NOW)
    with pytest.raises(mfa.UnknownPerson):
        await factors.enrol(mfa.Person(tenant_id, str(uuid.uuid4())), at=NOW)


async def test_the_secret_is_stored_sealed(pool: Any, settings: Settings, tenant_id: str) -> None:
    who, factors = await person(pool, tenant_id), mfa.SecondFactors(pool, settings.secret_key)
    secret, codes = await enrolled(factors, who)
    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT * FROM mfa_totp WHERE user_id = %s", (who.user_id,))
        ).fetchone()
        hashes = await (
            await conn.execute(
                "SELECT code_hash FROM mfa_recovery_codes WHERE user_id = %s", (who.user_id,)
            )
        ).fetchall()
    stored = repr(row).encode() + b"".join(bytes(h[0]) for h in hashes)
    assert secret.encode() not in stored
    assert pyotp.TOTP(secret).byte_secret() not in stored
    assert not any(c.encode() in stored or c.replace("-", "").encode() in stored for c in codes)


async def test_a_code_is_accepted_once(pool: Any, settings: Settings, tenant_id: str) -> None:
    who = await person(pool, tenant_id)
    secret, _ = await enrolled(mfa.SecondFactors(pool, settings.secret_key), who)
    later = NOW + timedelta(seconds=60)

    async def check(value: str, at: datetime = later) -> bool:
        return await mfa.check_second_factor(pool, settings, *who.ids, value, now=at)

    now_code = code(secret, later)
    assert await check(now_code)
    assert not await check(now_code)  # replayed
    assert not await check(code(secret, later, -1))  # an older step, after a newer one
    assert await check(code(secret, later, 1))  # the next step's
    # The confirming code's step counted too: it cannot sign in.
    assert not await check(code(secret, NOW), at=NOW)


async def test_one_code_used_twice_at_once_passes_once(
    pool: Any, settings: Settings, tenant_id: str
) -> None:
    who = await person(pool, tenant_id)
    secret, codes = await enrolled(mfa.SecondFactors(pool, settings.secret_key), who)
    at = NOW + timedelta(seconds=30)
    totp_code = code(secret, at)
    # (Three at a time: the refused ones count as wrong codes, and five in a row would block.)
    for value in (totp_code, codes[0]):
        results = await asyncio.gather(
            *(mfa.check_second_factor(pool, settings, *who.ids, value, now=at) for _ in range(3))
        )
        assert sorted(results) == [False, False, True], value


async def test_a_recovery_code_works_once(pool: Any, settings: Settings, tenant_id: str) -> None:
    who, factors = await person(pool, tenant_id), mfa.SecondFactors(pool, settings.secret_key)
    _, codes = await enrolled(factors, who)
    typed = codes[3].upper().replace("-", " ")  # as read from paper
    assert await mfa.check_second_factor(pool, settings, *who.ids, typed)
    assert not await mfa.check_second_factor(pool, settings, *who.ids, codes[3])
    assert (await factors.status(who)).recovery_codes_left == 9
    assert await mfa.check_second_factor(pool, settings, *who.ids, codes[4])
    assert (await factors.status(who)).recovery_codes_left == 8
    actions = [action for action, _ in await audit_actions(pool, who.user_id)]
    assert actions == ["mfa.enrolled", "mfa.recovery_code_used", "mfa.recovery_code_used"]
    # Made up, or another deployment's (another secret key): refused.
    assert not await mfa.check_second_factor(pool, settings, *who.ids, "abcd-efgh")
    other_key = settings.model_copy(update={"secret_key": settings.secret_key + "x"})
    assert not await mfa.check_second_factor(pool, other_key, *who.ids, codes[5])


async def test_codes_are_checked_within_their_tenant_only(
    pool: Any, settings: Settings, tenant_id: str
) -> None:
    who = await person(pool, tenant_id)
    secret, codes = await enrolled(mfa.SecondFactors(pool, settings.secret_key), who)
    other_tenant = str(uuid.uuid4())
    at = NOW + timedelta(seconds=30)
    for value in (code(secret, at), codes[0]):
        assert not await mfa.check_second_factor(
            pool, settings, other_tenant, who.user_id, value, now=at
        )
    assert not await mfa.mfa_enrolled(pool, other_tenant, who.user_id)
    assert not await mfa.mfa_enrolled(pool, "not-a-uuid", who.user_id)
    assert not await mfa.check_second_factor(pool, settings, tenant_id, "nobody", codes[0])
    # Nothing was consumed by those attempts.
    assert await mfa.check_second_factor(pool, settings, *who.ids, code(secret, at), now=at)


async def test_wrong_codes_block_every_code_for_a_while(
    pool: Any, settings: Settings, tenant_id: str
) -> None:
    who, factors = await person(pool, tenant_id), mfa.SecondFactors(pool, settings.secret_key)
    secret, codes = await enrolled(factors, who)
    at = NOW + timedelta(seconds=30)
    right = code(secret, at)
    wrong = next(f"{n:06d}" for n in range(10**6) if f"{n:06d}" not in {right, code(secret, NOW)})
    for _ in range(mfa.MAX_FAILURES - 1):
        assert not await mfa.check_second_factor(pool, settings, *who.ids, wrong, now=at)
    # One more wrong code (a made-up recovery code counts too) blocks the factor.
    with pytest.raises(mfa.WrongCode):
        await factors.disable(who, "zzzz-zzzz", actor="user:x", at=at)
    assert not await mfa.check_second_factor(pool, settings, *who.ids, right, now=at)
    assert not await mfa.check_second_factor(pool, settings, *who.ids, codes[0], now=at)
    with pytest.raises(mfa.TooManyAttempts) as blocked:
        await factors.regenerate_recovery_codes(who, codes[0], actor="user:x", at=at)
    assert blocked.value.retry_after_s == 300
    # After the block, the right code passes (the blocked attempts consumed nothing).
    after = at + mfa.BLOCK
    assert await mfa.check_second_factor(pool, settings, *who.ids, code(secret, after), now=after)
    assert await mfa.check_second_factor(pool, settings, *who.ids, codes[0], now=after)


async def test_disabling_needs_a_valid_code_and_removes_everything(
    pool: Any, settings: Settings, tenant_id: str
) -> None:
    who, factors = await person(pool, tenant_id), mfa.SecondFactors(pool, settings.secret_key)
    secret, codes = await enrolled(factors, who)
    at = NOW + timedelta(seconds=30)
    with pytest.raises(mfa.WrongCode):
        await factors.disable(who, code(secret, NOW), actor="user:ana", at=at)  # used already
    assert await mfa.mfa_enrolled(pool, *who.ids)

    await factors.disable(who, code(secret, at), actor="user:ana", at=at)
    assert await factors.status(who) == mfa.MfaStatus(False, False, 0, None)
    assert not await mfa.check_second_factor(pool, settings, *who.ids, codes[0])
    async with pool.connection() as conn:
        left = await (
            await conn.execute(
                "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = %s", (who.user_id,)
            )
        ).fetchone()
    assert left == (0,)
    assert (await audit_actions(pool, who.user_id))[-1] == ("mfa.disabled", "user:ana")
    with pytest.raises(mfa.NotEnrolled):
        await factors.disable(who, code(secret, at, 1), actor="user:ana", at=at)
    # And a new enrolment can start.
    assert (await factors.enrol(who, at=at)).secret != secret


async def test_new_recovery_codes_replace_the_old(
    pool: Any, settings: Settings, tenant_id: str
) -> None:
    who, factors = await person(pool, tenant_id), mfa.SecondFactors(pool, settings.secret_key)
    _, old = await enrolled(factors, who)
    new = await factors.regenerate_recovery_codes(who, old[0], actor="user:ana", at=NOW)
    assert len(new) == 10 and not set(new) & set(old)
    assert (await factors.status(who)).recovery_codes_left == 10
    assert not await mfa.check_second_factor(pool, settings, *who.ids, old[1])
    assert await mfa.check_second_factor(pool, settings, *who.ids, new[1])
    with pytest.raises(mfa.WrongCode):
        await factors.regenerate_recovery_codes(who, old[2], actor="user:ana", at=NOW)
    actions = await audit_actions(pool, who.user_id)
    assert ("mfa.recovery_regenerated", "user:ana") in actions


async def test_an_admin_resets_a_lost_second_factor(
    pool: Any, settings: Settings, tenant_id: str
) -> None:
    who, factors = await person(pool, tenant_id), mfa.SecondFactors(pool, settings.secret_key)
    _, codes = await enrolled(factors, who)
    other_tenant = mfa.Person(str(uuid.uuid4()), who.user_id)
    assert not await factors.reset(other_tenant, actor="user:admin", at=NOW)
    assert await mfa.mfa_enrolled(pool, *who.ids)
    assert await factors.reset(who, actor="user:admin", at=NOW)
    assert not await mfa.mfa_enrolled(pool, *who.ids)
    assert not await mfa.check_second_factor(pool, settings, *who.ids, codes[0])
    assert (await audit_actions(pool, who.user_id))[-1] == ("mfa.reset", "user:admin")
    assert not await factors.reset(who, actor="user:admin", at=NOW)


async def test_removing_the_person_removes_their_second_factor(
    pool: Any, settings: Settings, tenant_id: str
) -> None:
    who, factors = await person(pool, tenant_id), mfa.SecondFactors(pool, settings.secret_key)
    await enrolled(factors, who)
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM users WHERE user_id = %s", (who.user_id,))
        rows = await (
            await conn.execute(
                "SELECT (SELECT count(*) FROM mfa_totp), (SELECT count(*) FROM mfa_recovery_codes)"
            )
        ).fetchone()
    assert rows == (0, 0)


async def test_postgresql_down_is_unavailable_not_an_error(settings: Settings) -> None:
    gone = settings.model_copy(update={"database_url": "postgresql://vq@127.0.0.1:1/vq"})
    pool = await open_pool(gone)
    try:
        with pytest.raises(Unavailable):
            await mfa.mfa_enrolled(pool, str(uuid.uuid4()), str(uuid.uuid4()))
        with pytest.raises(Unavailable):
            await mfa.check_second_factor(pool, gone, str(uuid.uuid4()), str(uuid.uuid4()), "1")
    finally:
        await pool.close()


# The routes, with a person's real access token.


@dataclass
class Site:
    http: httpx.AsyncClient
    services: Any
    tenant_id: str
    admin_key: str

    async def person(self, email: str = "ana@clinic.example") -> tuple[str, dict[str, str]]:
        """A person of the tenant, signed in (without a second factor): id, auth header."""
        async with self.services.pool.connection() as conn:
            user = await insert_user(
                conn, tenant_id=self.tenant_id, email=email, name="Ana", role="staff",
                verified=True,
            )  # fmt: skip
        grant = await self.services.sessions.start(
            tenant_id=self.tenant_id, user_id=user.user_id, mfa=False
        )
        token, _ = await self.services.tokens.issue(
            tenant_id=self.tenant_id, user_id=user.user_id, role="staff",
            session_id=grant.session_id, mfa=False, queues=None,
        )  # fmt: skip
        return user.user_id, {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def site(settings: Settings) -> AsyncIterator[Site]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        services = app.state.services
        tenant_id, admin = await services.directory.create_tenant("Clinic")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vq.test") as http:
            yield Site(http, services, tenant_id, admin.secret)


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{code}"
    return body


async def test_a_person_enrols_confirms_renews_and_removes_their_second_factor(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user_id, auth = await site.person()
    http = site.http

    status = await http.get("/v1/me/mfa", headers=auth)
    assert status.status_code == 200, status.text
    assert status.json() == {
        "enrolled": False, "pending": False, "recovery_codes_left": 0, "enrolled_at": None,
    }  # fmt: skip

    started = await http.post("/v1/me/mfa/totp", headers=auth)
    assert started.status_code == 201, started.text
    assert started.headers["cache-control"] == "no-store"
    made = started.json()
    assert pyotp.parse_uri(made["otpauth_uri"]).secret == made["secret"]
    assert made["qr_svg"].startswith("<svg")
    assert (await http.get("/v1/me/mfa", headers=auth)).json()["pending"] is True

    now = datetime.now(UTC)
    wrong = next(f"{n:06d}" for n in range(10**6) if f"{n:06d}" not in {
        code(made["secret"], now, s) for s in (-2, -1, 0, 1, 2)})  # fmt: skip
    refused = await http.post("/v1/me/mfa/totp/confirm", headers=auth, json={"code": wrong})
    body = problem(refused, 409, "wrong-code")
    assert "code" in body["detail"] and wrong not in refused.text

    confirmed = await http.post(
        "/v1/me/mfa/totp/confirm", headers=auth, json={"code": code(made["secret"], now)}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.headers["cache-control"] == "no-store"
    recovery = confirmed.json()["recovery_codes"]
    assert len(recovery) == 10
    after = (await http.get("/v1/me/mfa", headers=auth)).json()
    assert (after["enrolled"], after["pending"], after["recovery_codes_left"]) == (True, False, 10)

    again = await http.post("/v1/me/mfa/totp", headers=auth)
    problem(again, 409, "already-exists")

    renewed = await http.post(
        "/v1/me/mfa/recovery-codes", headers=auth, json={"code": code(made["secret"], now, 1)}
    )
    assert renewed.status_code == 200, renewed.text
    new_codes = renewed.json()["recovery_codes"]
    assert len(new_codes) == 10 and not set(new_codes) & set(recovery)

    # An old recovery code no longer removes the factor; a new one does.
    stale = await http.request(
        "DELETE", "/v1/me/mfa/totp", headers=auth, json={"code": recovery[0]}
    )
    problem(stale, 409, "wrong-code")
    removed = await http.request(
        "DELETE", "/v1/me/mfa/totp", headers=auth, json={"code": new_codes[0]}
    )
    assert removed.status_code == 204, removed.text
    assert (await http.get("/v1/me/mfa", headers=auth)).json()["enrolled"] is False
    gone = await http.request(
        "DELETE", "/v1/me/mfa/totp", headers=auth, json={"code": new_codes[1]}
    )
    problem(gone, 404, "not-found")

    actions = await audit_actions(site.services.pool, user_id)
    actor = f"user:{user_id}"
    assert [a for a in actions if a[0] != "mfa.recovery_code_used"] == [
        ("mfa.enrolled", actor), ("mfa.recovery_regenerated", actor), ("mfa.disabled", actor),
    ]  # fmt: skip

    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (made["secret"], *recovery, *new_codes, code(made["secret"], now)):
        assert secret not in logged


async def test_keys_may_not_use_a_person_s_routes(site: Site) -> None:
    key = {"Authorization": f"Bearer {site.admin_key}"}
    for method, path in [
        ("GET", "/v1/me/mfa"), ("POST", "/v1/me/mfa/totp"), ("POST", "/v1/me/mfa/totp/confirm"),
        ("DELETE", "/v1/me/mfa/totp"), ("POST", "/v1/me/mfa/recovery-codes"),
    ]:  # fmt: skip
        answer = await site.http.request(method, path, headers=key, json={"code": "123456"})
        problem(answer, 403, "forbidden")
        anonymous = await site.http.request(method, path, json={"code": "123456"})
        problem(anonymous, 401, "unauthorized")


async def test_codes_before_enrolment_and_malformed_codes_are_clear_problems(site: Site) -> None:
    _, auth = await site.person()
    http = site.http
    problem(await http.post("/v1/me/mfa/totp/confirm", headers=auth, json={"code": "123456"}),
            404, "not-found")  # fmt: skip
    problem(await http.post("/v1/me/mfa/recovery-codes", headers=auth, json={"code": "123456"}),
            404, "not-found")  # fmt: skip
    for body in ({}, {"code": "12"}, {"code": "1" * 21}, {"code": 123456}):
        answer = await http.post("/v1/me/mfa/totp/confirm", headers=auth, json=body)
        problem(answer, 422, "validation")


async def test_wrong_codes_get_a_429_with_retry_after(site: Site) -> None:
    _, auth = await site.person()
    http = site.http
    made = (await http.post("/v1/me/mfa/totp", headers=auth)).json()
    now = datetime.now(UTC)
    await http.post(
        "/v1/me/mfa/totp/confirm", headers=auth, json={"code": code(made["secret"], now)}
    )
    for _ in range(mfa.MAX_FAILURES):
        answer = await http.post(
            "/v1/me/mfa/recovery-codes", headers=auth, json={"code": "zzzz-zzzz"}
        )
        problem(answer, 409, "wrong-code")
    right = code(made["secret"], now, 1)
    blocked = await http.post("/v1/me/mfa/recovery-codes", headers=auth, json={"code": right})
    problem(blocked, 429, "too-many-attempts")
    assert 290 <= int(blocked.headers["retry-after"]) <= 300


async def test_sign_in_asks_for_the_second_factor_once_enrolled(site: Site) -> None:
    """Acceptance 1's TOTP step: enrol, confirm; then a password alone is refused (mfa-required),
    password + TOTP signs in, the same code again is refused, a recovery code signs in once."""
    password = "correct horse battery staple 42"
    async with site.services.pool.connection() as conn:
        await insert_user(
            conn, tenant_id=site.tenant_id, email="bo@clinic.example", name="Bo", role="manager",
            password_hash=await hash_password(password), verified=True,
        )  # fmt: skip
    http = site.http
    login = {"tenant_id": site.tenant_id, "email": "bo@clinic.example", "password": password}

    first = await http.post("/v1/auth/login", json=login)
    assert first.status_code == 200, first.text
    assert first.json()["mfa"] is False
    auth = {"Authorization": f"Bearer {first.json()['access_token']}"}
    made = (await http.post("/v1/me/mfa/totp", headers=auth)).json()
    now = datetime.now(UTC)
    confirmed = await http.post(
        "/v1/me/mfa/totp/confirm", headers=auth, json={"code": code(made["secret"], now)}
    )
    assert confirmed.status_code == 200, confirmed.text
    recovery = confirmed.json()["recovery_codes"]

    problem(await http.post("/v1/auth/login", json=login), 401, "mfa-required")

    # The confirming code was used already: it does not sign in.
    used = await http.post("/v1/auth/login", json={**login, "otp": code(made["secret"], now)})
    problem(used, 401, "mfa-required")

    totp_code = code(made["secret"], now, 1)
    signed_in = await http.post("/v1/auth/login", json={**login, "otp": totp_code})
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["mfa"] is True
    claims = await site.services.tokens.verify(signed_in.json()["access_token"])
    assert claims.mfa is True

    replayed = await http.post("/v1/auth/login", json={**login, "otp": totp_code})
    problem(replayed, 401, "mfa-required")

    by_recovery = await http.post("/v1/auth/login", json={**login, "otp": recovery[0]})
    assert by_recovery.status_code == 200, by_recovery.text
    again = await http.post("/v1/auth/login", json={**login, "otp": recovery[0]})
    problem(again, 401, "mfa-required")
