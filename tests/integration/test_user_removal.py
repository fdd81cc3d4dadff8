"""DELETE /v1/users/{id} removes the person for good, on real PostgreSQL, Redis and Kafka: their
sessions end at once (their access token is refused right after), their second factor, links,
sessions and refresh tokens are gone with their row, they cannot sign in, the id is unknown to
every route, the email may be invited again as a new person, and the audit trail says so by id
only. The organisation's last active admin stays, even when two admins remove each other at
once. Deactivation (PATCH active false) keeps the person; it is tested in test_access_people.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pyotp
import pytest

from access import links
from access.sessions import PersonGone, Sessions
from core.settings import Settings
from eventstore.pool import connect_kwargs
from tests.integration.bad_input_access import PASSWORD, insert_person
from tests.integration.conftest import ApiClient
from tests.integration.reach import delivery_topics

# The person's rows in every access table, by table (a session's refresh tokens by its id).
ROWS = {
    "users": "SELECT count(*) FROM users WHERE user_id = %s",
    "user_links": "SELECT count(*) FROM user_links WHERE user_id = %s",
    "mfa_totp": "SELECT count(*) FROM mfa_totp WHERE user_id = %s",
    "mfa_recovery_codes": "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = %s",
    "sessions": "SELECT count(*) FROM sessions WHERE user_id = %s",
    "refresh_tokens": """SELECT count(*) FROM refresh_tokens r JOIN sessions s USING (session_id)
                          WHERE s.user_id = %s""",
}


# Backends waiting on `pid`'s locks, directly or behind another waiter (the first to wait on a
# row holds its tuple lock, and the next ones wait on that first waiter).
WAITING = """
    WITH first AS (SELECT pid FROM pg_stat_activity WHERE %(pid)s = ANY(pg_blocking_pids(pid)))
    SELECT count(*) FROM pg_stat_activity
     WHERE pid IN (SELECT pid FROM first) OR pg_blocking_pids(pid) && ARRAY(SELECT pid FROM first)
"""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def connect(settings: Settings) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(
        settings.pg_url, **connect_kwargs(settings.db_schema)
    )


async def rows_of(settings: Settings, user_id: str) -> dict[str, int]:
    async with await connect(settings) as conn:
        counts = {}
        for table, query in ROWS.items():
            row = await (await conn.execute(query, (user_id,))).fetchone()
            counts[table] = row[0] if row else 0
        return counts


async def sign_in(
    http: httpx.AsyncClient, tenant_id: str, email: str, **more: Any
) -> httpx.Response:
    body = {"tenant_id": tenant_id, "email": email, "password": PASSWORD, **more}
    return await http.post("/v1/auth/login", json=body)


async def signed_in(http: httpx.AsyncClient, tenant_id: str, email: str) -> dict[str, Any]:
    answer = await sign_in(http, tenant_id, email)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_a_removed_person_is_gone_everywhere_and_their_email_is_free_again(
    api: ApiClient, settings: Settings, topics: list[str]
) -> None:
    await delivery_topics(settings)  # the new invitation's email is queued
    http, tenant = api.http, api.tenant_id
    email = "cleo@clinic.example"
    cleo_id = await insert_person(settings, tenant, email, role="staff")
    first = await signed_in(http, tenant, email)
    second = await signed_in(http, tenant, email)
    # A second factor (with its recovery codes) and a pending password-reset link.
    enrolment = await http.post("/v1/me/mfa/totp", headers=bearer(first["access_token"]))
    assert enrolment.status_code in (200, 201), enrolment.text
    code = pyotp.TOTP(enrolment.json()["secret"]).now()
    confirmed = await http.post(
        "/v1/me/mfa/totp/confirm", json={"code": code}, headers=bearer(first["access_token"])
    )
    assert confirmed.status_code == 200, confirmed.text
    async with await connect(settings) as conn:
        reset = await links.issue(conn, tenant, cleo_id, "reset-password", datetime.now(UTC))
    before = await rows_of(settings, cleo_id)
    assert all(before.values()), before
    for token in (first, second):
        assert (await http.get("/v1/me", headers=bearer(token["access_token"]))).status_code == 200

    path = f"/v1/users/{cleo_id}"
    removed = await http.delete(path, headers=api.auth())
    assert removed.status_code == 204, removed.text

    # Signed out at once, every session; nothing of theirs is left in the access tables.
    for token in (first, second):
        assert (await http.get("/v1/me", headers=bearer(token["access_token"]))).status_code == 401
        again = await http.post("/v1/auth/refresh", json={"refresh_token": token["refresh_token"]})
        assert again.status_code == 401
    assert await rows_of(settings, cleo_id) == dict.fromkeys(ROWS, 0)
    # The id is nobody's now, for every route of a person.
    assert (await http.get(path, headers=api.auth())).status_code == 404
    assert (await http.patch(path, json={"name": "X"}, headers=api.auth())).status_code == 404
    assert (await http.delete(path, headers=api.auth())).status_code == 404
    assert (await http.post(path + "/invite", headers=api.auth())).status_code == 404
    listed = (await http.get("/v1/users", headers=api.auth())).json()["users"]
    assert cleo_id not in [u["user_id"] for u in listed]
    # No sign-in (with or without the second factor), no link.
    for more in ({}, {"otp": pyotp.TOTP(enrolment.json()["secret"]).now()}):
        refused = await sign_in(http, tenant, email, **more)
        assert refused.status_code == 401, refused.text
        assert refused.json()["type"] == "/problems/invalid-credentials"
    used = await http.post("/v1/auth/password", json={"token": reset.token, "password": PASSWORD})
    assert used.status_code == 404 and used.json()["type"] == "/problems/link-expired"

    # The audit trail: the removal, by id and role only (their name and email are not in it).
    found = await http.get("/v1/audit", params={"action": "user.removed"}, headers=api.auth())
    assert found.status_code == 200, found.text
    [entry] = found.json()["entries"]
    assert entry["subject"] == cleo_id
    assert entry["detail"] == {"role": "staff", "sessions_ended": 2}
    assert "cleo" not in str(entry).lower()

    # The email is free: a new person, with a new id.
    body = {"email": email, "name": "Cleo Again", "role": "viewer"}
    invited = await http.post("/v1/users", json=body, headers=api.auth())
    assert invited.status_code == 201, invited.text
    assert invited.json()["user_id"] != cleo_id and invited.json()["email_queued"] is True


async def test_the_last_admin_stays_and_removing_yourself_signs_you_out(
    api: ApiClient, settings: Settings
) -> None:
    http, tenant = api.http, api.tenant_id
    ada_id = await insert_person(settings, tenant, "ada@clinic.example")
    ada = bearer((await signed_in(http, tenant, "ada@clinic.example"))["access_token"])
    for who in (ada, api.auth()):  # herself, or the organisation's admin key
        refused = await http.delete(f"/v1/users/{ada_id}", headers=who)
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"] == "/problems/rule-violated"
        assert "last active admin" in refused.json()["detail"]
    # Another tenant's key: a 404, as for nobody.
    other = {"Authorization": f"Bearer {api.other_tenant_key}"}
    assert (await http.delete(f"/v1/users/{ada_id}", headers=other)).status_code == 404

    # A second admin may leave by removing herself; her own token is refused at once.
    bea_id = await insert_person(settings, tenant, "bea@clinic.example")
    bea = bearer((await signed_in(http, tenant, "bea@clinic.example"))["access_token"])
    assert (await http.delete(f"/v1/users/{bea_id}", headers=bea)).status_code == 204
    assert (await http.get("/v1/me", headers=bea)).status_code == 401
    assert (await http.get(f"/v1/users/{ada_id}", headers=ada)).status_code == 200
    # A deactivated admin is no last admin: removing one is fine.
    cy_id = await insert_person(settings, tenant, "cy@clinic.example")
    off = await http.patch(f"/v1/users/{cy_id}", json={"active": False}, headers=ada)
    assert off.status_code == 200
    assert (await http.delete(f"/v1/users/{cy_id}", headers=ada)).status_code == 204


async def test_two_admins_removing_each_other_at_once_take_turns(
    api: ApiClient, settings: Settings
) -> None:
    """Both requests are let in while the test holds the admins' rows, so both wait on the same
    lock (neither is refused at the door by the other's removal): one removes, one is refused."""
    http, tenant = api.http, api.tenant_id
    ids = {
        name: await insert_person(settings, tenant, f"{name}@clinic.example")
        for name in ("ada", "bea")
    }
    tokens = {
        name: bearer((await signed_in(http, tenant, f"{name}@clinic.example"))["access_token"])
        for name in ids
    }
    async with await connect(settings) as holder:
        async with holder.transaction():
            await holder.execute(
                "SELECT 1 FROM users WHERE tenant_id = %s AND role = 'admin' FOR UPDATE",
                (tenant,),
            )
            both = asyncio.gather(
                http.delete(f"/v1/users/{ids['bea']}", headers=tokens["ada"]),
                http.delete(f"/v1/users/{ids['ada']}", headers=tokens["bea"]),
            )
            await _until_waiting(settings, holder.info.backend_pid, 2, both)
        answers = await both
    assert sorted(a.status_code for a in answers) == [204, 409], [a.text for a in answers]
    winner = "ada" if answers[0].status_code == 204 else "bea"
    loser = "bea" if winner == "ada" else "ada"
    assert (await http.get("/v1/me", headers=tokens[winner])).status_code == 200
    assert (await http.get("/v1/me", headers=tokens[loser])).status_code == 401
    listed = (await http.get("/v1/users", headers=api.auth())).json()["users"]
    assert [u["user_id"] for u in listed] == [ids[winner]]


async def _until_waiting(
    settings: Settings, pid: int, count: int, requests: asyncio.Future[Any]
) -> None:
    """Until `count` backends wait on the locks backend `pid` holds (the test fails if the
    requests end first: they were not made to wait)."""
    deadline = time.monotonic() + 4.0  # within the API's statement timeout (5 s)
    async with await connect(settings) as probe:
        while time.monotonic() < deadline:
            assert not requests.done(), "the requests did not wait for the admins' lock"
            row = await (await probe.execute(WAITING, {"pid": pid})).fetchone()
            if row and row[0] >= count:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"{count} requests never waited on the admins' lock")


async def test_no_session_opens_for_a_person_removed_or_deactivated_while_signing_in(
    api: ApiClient, settings: Settings, pool: Any
) -> None:
    """The sign-in's password check passed, then the person went: the session it would open
    is refused (Sessions.start reads the person, share-locked, in the same transaction)."""
    tenant = api.tenant_id
    sessions = Sessions(pool, settings)
    kept = await insert_person(settings, tenant, "kept@clinic.example", role="staff")
    paused = await insert_person(settings, tenant, "paused@clinic.example", role="staff")
    gone = await insert_person(settings, tenant, "gone@clinic.example", role="staff")
    assert (await sessions.start(tenant_id=tenant, user_id=kept, mfa=False)).session_id

    deactivated = await api.http.patch(
        f"/v1/users/{paused}", json={"active": False}, headers=api.auth()
    )
    assert deactivated.status_code == 200, deactivated.text
    removed = await api.http.delete(f"/v1/users/{gone}", headers=api.auth())
    assert removed.status_code == 204, removed.text
    for user_id in (paused, gone):
        with pytest.raises(PersonGone):
            await sessions.start(tenant_id=tenant, user_id=user_id, mfa=False)
        assert (await rows_of(settings, user_id))["sessions"] == 0
    # Another organisation's person is nobody here either.
    with pytest.raises(PersonGone):
        await sessions.start(tenant_id=str(uuid.uuid4()), user_id=kept, mfa=False)
