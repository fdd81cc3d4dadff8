"""People and sign-in end to end (acceptance 1): on real PostgreSQL, Redis,
Kafka, the notifier's deliver stage and an SMTP receiver. Every link is taken from the email
that really arrived."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pyotp
import pytest

from core.settings import Settings
from tests.integration.conftest import ApiClient
from tests.integration.reach import delivery_topics, notifier, reach_settings
from tests.receivers.smtp import SmtpReceiver

PUBLIC = "https://vq.example"
STARTUP_S = 40.0
PASSWORD = "violet tram under the pier"
LINK = re.compile(re.escape(PUBLIC) + r"(/account/[a-z-]+)([#?])token=([A-Za-z0-9_-]+)")


@pytest.fixture
def settings(settings: Settings, smtp: SmtpReceiver) -> Settings:
    return reach_settings(
        settings,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        signup_open=True,
        public_url=PUBLIC,
        # Room for the failures these tests make on purpose (the brute-force test has its own).
        login_backoff_after=20,
        login_lockout_after=40,
    )


@pytest.fixture
async def mail(settings: Settings, topics: list[str]) -> AsyncIterator[None]:
    """The deliver stage of the notifier: account emails reach the SMTP receiver."""
    await delivery_topics(settings)
    with notifier(settings, "deliver"):
        yield


class Mailbox:
    def __init__(self, smtp: SmtpReceiver) -> None:
        self.smtp = smtp

    async def link(self, to: str, page: str, timeout: float = STARTUP_S) -> str:
        """The token of the newest link to `page` emailed to `to` (waiting for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for received in reversed(self.smtp.messages):
                if to not in received.rcpt_tos:
                    continue
                found = LINK.search(received.message.get_content())
                if found and found[1] == page:
                    assert found[2] == "#", "the token travels in the fragment, never the query"
                    return found[3]
            await _sleep(0.1)
        raise AssertionError(f"no {page} link reached {to} in {timeout} s")

    def count(self, to: str) -> int:
        return sum(to in m.rcpt_tos for m in self.smtp.messages)


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def signup(
    http: httpx.AsyncClient, org: str, email: str, *, queued: bool = True
) -> dict[str, Any]:
    body = {"organisation": org, "name": "Ada Admin", "email": email, "password": PASSWORD}
    answer = await http.post("/v1/signup", json=body)
    assert answer.status_code == 201, answer.text
    made = dict(answer.json())
    assert made["email_queued"] is queued
    return made


async def login(
    http: httpx.AsyncClient, tenant_id: str, email: str, password: str = PASSWORD
) -> dict[str, Any]:
    answer = await http.post(
        "/v1/auth/login", json={"tenant_id": tenant_id, "email": email, "password": password}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return dict(answer.json())


async def invite(
    http: httpx.AsyncClient, token: str, email: str, role: str, **more: Any
) -> dict[str, Any]:
    body = {"email": email, "name": f"{role.title()} Person", "role": role, **more}
    answer = await http.post("/v1/users", json=body, headers=bearer(token))
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def audit_actions(settings: Settings, tenant_id: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(settings.pg_url) as conn:
        await conn.execute(f'SET search_path TO "{settings.db_schema}"')
        rows = await (
            await conn.execute(
                "SELECT action FROM audit_log WHERE tenant_id = %s ORDER BY seq", (tenant_id,)
            )
        ).fetchall()
    return [row[0] for row in rows]


async def test_sign_up_invite_verify_sign_in_refresh_sign_out(
    api: ApiClient, smtp: SmtpReceiver, mail: None, settings: Settings
) -> None:
    http, box = api.http, Mailbox(smtp)
    made = await signup(http, "Harbour Clinic", "Ada@Clinic.example")
    tenant = made["tenant_id"]

    # The admin verifies the email from the link that arrived.
    verify = await box.link("ada@clinic.example", "/account/verify")
    first = await login(http, tenant, "ada@clinic.example")
    assert first["user"]["email_verified"] is False and first["user"]["role"] == "admin"
    assert (await http.post("/v1/auth/verify-email", json={"token": verify})).status_code == 204
    again = await http.post("/v1/auth/verify-email", json={"token": verify})
    assert again.status_code == 404 and again.json()["type"] == "/problems/link-expired"
    admin = await login(http, tenant, "ada@clinic.example")
    assert admin["token_type"] == "Bearer" and admin["expires_in"] == settings.access_token_ttl_s
    me = await http.get("/v1/me", headers=bearer(admin["access_token"]))
    assert me.status_code == 200 and me.json()["email_verified"] is True
    # The consoles' headers name the organisation: /v1/me says which one, by id and name.
    assert me.json()["organisation"] == {"tenant_id": tenant, "name": "Harbour Clinic"}

    # A manager and a staff member are invited; each sets a password from the emailed link.
    people = {}
    for role in ("manager", "staff"):
        email = f"{role}@clinic.example"
        invited = await invite(http, admin["access_token"], email, role)
        assert invited["email_queued"] is True and invited["email_verified"] is False
        token = await box.link(email, "/account/set-password")
        answer = await http.post("/v1/auth/password", json={"token": token, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "user_id": invited["user_id"],
            "tenant_id": tenant,
            "email": email,
        }
        reused = await http.post("/v1/auth/password", json={"token": token, "password": PASSWORD})
        assert reused.status_code == 404
        people[role] = await login(http, tenant, email)
        assert people[role]["user"]["role"] == role
        assert people[role]["user"]["email_verified"] is True

    # The manager enrols a second factor; from then on signing in takes the password and a code.
    manager_auth = bearer(people["manager"]["access_token"])
    enrolment = (await http.post("/v1/me/mfa/totp", headers=manager_auth)).json()
    totp, now = pyotp.TOTP(enrolment["secret"]), time.time()
    confirmed = await http.post(
        "/v1/me/mfa/totp/confirm", headers=manager_auth, json={"code": totp.at(now)}
    )
    assert confirmed.status_code == 200 and len(confirmed.json()["recovery_codes"]) == 10
    password_only = {"tenant_id": tenant, "email": "manager@clinic.example", "password": PASSWORD}
    refused = await http.post("/v1/auth/login", json=password_only)
    assert refused.status_code == 401 and refused.json()["type"] == "/problems/mfa-required"
    # The next time step's code (the confirming one was used already: each code works once).
    both = await http.post("/v1/auth/login", json={**password_only, "otp": totp.at(now + 30)})
    assert both.status_code == 200 and both.json()["mfa"] is True, both.text
    people["manager"] = both.json()

    # Refresh: a new pair; the old refresh token works once only.
    manager = people["manager"]
    renewed = await http.post("/v1/auth/refresh", json={"refresh_token": manager["refresh_token"]})
    assert renewed.status_code == 200, renewed.text
    newest = renewed.json()
    assert newest["refresh_token"] != manager["refresh_token"]
    assert newest["user"]["role"] == "manager"
    assert (await http.get("/v1/me", headers=bearer(newest["access_token"]))).status_code == 200

    # A reused refresh token revokes its whole family: the newest refresh and access tokens too.
    stolen = await http.post("/v1/auth/refresh", json={"refresh_token": manager["refresh_token"]})
    assert stolen.status_code == 401 and stolen.json()["type"] == "/problems/token-reused"
    after = await http.post("/v1/auth/refresh", json={"refresh_token": newest["refresh_token"]})
    assert after.status_code == 401
    assert (await http.get("/v1/me", headers=bearer(newest["access_token"]))).status_code == 401

    # Sign-out: the access token is refused at once, and so is the refresh token.
    staff = people["staff"]
    assert (await http.get("/v1/me", headers=bearer(staff["access_token"]))).status_code == 200
    out = await http.post("/v1/auth/logout", headers=bearer(staff["access_token"]))
    assert out.status_code == 204
    assert (await http.get("/v1/me", headers=bearer(staff["access_token"]))).status_code == 401
    gone = await http.post("/v1/auth/refresh", json={"refresh_token": staff["refresh_token"]})
    assert gone.status_code == 401

    actions = await audit_actions(settings, tenant)
    for expected in ("signup", "email.verified", "user.invited", "password.set", "login"):
        assert expected in actions, (expected, actions)
    assert actions.count("user.invited") == 2 and actions[0] == "signup"


async def test_another_organisation_sees_none_of_your_people(
    api: ApiClient, smtp: SmtpReceiver, mail: None
) -> None:
    http = api.http
    ours = await signup(http, "North", "ada@north.example")
    theirs = await signup(http, "South", "bob@south.example")
    our_admin = await login(http, ours["tenant_id"], "ada@north.example")
    their_admin = await login(http, theirs["tenant_id"], "bob@south.example")
    staff = await invite(http, our_admin["access_token"], "cy@north.example", "staff")
    as_them = bearer(their_admin["access_token"])
    for user_id in (staff["user_id"], ours["user_id"]):
        path = f"/v1/users/{user_id}"
        assert (await http.get(path, headers=as_them)).status_code == 404
        patched = await http.patch(path, json={"role": "viewer"}, headers=as_them)
        assert patched.status_code == 404
        assert (await http.delete(path, headers=as_them)).status_code == 404
        assert (await http.post(path + "/invite", headers=as_them)).status_code == 404
    listed = await http.get("/v1/users", headers=as_them)
    assert [u["email"] for u in listed.json()["users"]] == ["bob@south.example"]
    # An API key of a third organisation: the same 404.
    other_key = {"Authorization": f"Bearer {api.other_tenant_key}"}
    assert (await http.get(f"/v1/users/{staff['user_id']}", headers=other_key)).status_code == 404
    # Our own admin still sees them, unchanged.
    ours_now = await http.get(
        f"/v1/users/{staff['user_id']}", headers=bearer(our_admin["access_token"])
    )
    assert ours_now.status_code == 200 and ours_now.json()["role"] == "staff"


async def test_the_last_active_admin_stays_and_a_role_change_ends_sessions(
    api: ApiClient, smtp: SmtpReceiver, mail: None
) -> None:
    http, box = api.http, Mailbox(smtp)
    made = await signup(http, "Lakeside", "ada@lake.example")
    tenant, ada_id = made["tenant_id"], made["user_id"]
    ada = await login(http, tenant, "ada@lake.example")
    as_ada = bearer(ada["access_token"])
    for body in ({"role": "manager"}, {"active": False}):
        refused = await http.patch(f"/v1/users/{ada_id}", json=body, headers=as_ada)
        assert refused.status_code == 409 and refused.json()["type"] == "/problems/rule-violated"
    assert (await http.delete(f"/v1/users/{ada_id}", headers=as_ada)).status_code == 409

    # A second admin: now either may step down, and the one demoted is signed out at once.
    bob_made = await invite(http, ada["access_token"], "bob@lake.example", "manager")
    token = await box.link("bob@lake.example", "/account/set-password")
    assert (
        await http.post("/v1/auth/password", json={"token": token, "password": PASSWORD})
    ).status_code == 200
    bob_path = f"/v1/users/{bob_made['user_id']}"
    promoted = await http.patch(bob_path, json={"role": "admin"}, headers=as_ada)
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    bob = await login(http, tenant, "bob@lake.example")
    demoted = await http.patch(
        f"/v1/users/{ada_id}", json={"role": "viewer"}, headers=bearer(bob["access_token"])
    )
    assert demoted.status_code == 200 and demoted.json()["role"] == "viewer"
    assert (await http.get("/v1/me", headers=as_ada)).status_code == 401
    refused = await http.post("/v1/auth/refresh", json={"refresh_token": ada["refresh_token"]})
    assert refused.status_code == 401
    ada = await login(http, tenant, "ada@lake.example")
    assert ada["user"]["role"] == "viewer"
    assert (await http.get("/v1/users", headers=bearer(ada["access_token"]))).status_code == 403
    # Bob is the last admin now; deactivating a viewer is fine and signs her out.
    last = await http.patch(bob_path, json={"role": "staff"}, headers=bearer(bob["access_token"]))
    assert last.status_code == 409
    off = await http.patch(
        f"/v1/users/{ada_id}", json={"active": False}, headers=bearer(bob["access_token"])
    )
    assert off.status_code == 200 and off.json()["active"] is False
    assert (await http.get("/v1/me", headers=bearer(ada["access_token"]))).status_code == 401
    refused = await http.post(
        "/v1/auth/login",
        json={"tenant_id": tenant, "email": "ada@lake.example", "password": PASSWORD},
    )
    assert refused.status_code == 401
    assert refused.json()["type"] == "/problems/invalid-credentials"


async def test_a_password_must_meet_the_policy(
    api: ApiClient, smtp: SmtpReceiver, mail: None
) -> None:
    http, box = api.http, Mailbox(smtp)
    # Too short: the document says so (a 422). The rest are well-shaped passwords only the
    # server's policy refuses: a 409 rule-violated naming the field and why.
    for weak, status, code in (
        ("too-short", 422, "validation"),
        ("ZoE@policy.example", 409, "rule-violated"),
        ("password1234", 409, "rule-violated"),
        ("aaaaaaaaaaaaaaaa", 409, "rule-violated"),
    ):
        body = {"organisation": "P", "name": "Zoe", "email": "zoe@policy.example", "password": weak}
        answer = await http.post("/v1/signup", json=body)
        assert answer.status_code == status, (weak, answer.text)
        assert answer.json()["type"] == f"/problems/{code}"
        assert answer.json()["errors"][0]["loc"] == ["body", "password"]
    made = await signup(http, "Policy", "zoe@policy.example")
    admin = await login(http, made["tenant_id"], "zoe@policy.example")
    await invite(http, admin["access_token"], "max@policy.example", "staff")
    token = await box.link("max@policy.example", "/account/set-password")
    refused = await http.post(
        "/v1/auth/password", json={"token": token, "password": "max@policy.example"}
    )
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["loc"] == ["body", "password"]
    # A refused password does not use the link up.
    fine = await http.post("/v1/auth/password", json={"token": token, "password": PASSWORD})
    assert fine.status_code == 200
    # Changing one's own: the current password is required, the new one meets the policy.
    me = bearer(admin["access_token"])
    wrong = await http.post(
        "/v1/me/password",
        json={"current_password": "not my password", "new_password": "another long secret"},
        headers=me,
    )
    assert wrong.status_code == 401
    common = await http.post(
        "/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "qwerty123456"},
        headers=me,
    )
    assert common.status_code == 409
    assert common.json()["errors"][0]["loc"] == ["body", "new_password"]


async def test_a_reset_link_works_once_and_the_newest_only(
    api: ApiClient, smtp: SmtpReceiver, mail: None, settings: Settings
) -> None:
    http, box = api.http, Mailbox(smtp)
    made = await signup(http, "Reset Co", "ren@reset.example")
    tenant = made["tenant_id"]
    signed_in = await login(http, tenant, "ren@reset.example")
    # An account email is never worded by a template the organisation edits (a manager could
    # otherwise wrap an admin's reset link in a link of their own).
    hijack = {
        "topic": "announcement",
        "channel": "email",
        "language": "en",
        "subject": "Hijacked",
        "body": "Continue at https://evil.example/?t={{ text }}",
    }
    edited = await http.put("/v1/templates", json=hijack, headers=bearer(signed_in["access_token"]))
    assert edited.status_code == 200, edited.text
    ask = {"tenant_id": tenant, "email": "REN@reset.example"}
    assert (await http.post("/v1/auth/password-reset", json=ask)).status_code == 202
    older = await box.link("ren@reset.example", "/account/set-password")
    assert (await http.post("/v1/auth/password-reset", json=ask)).status_code == 202
    deadline = time.monotonic() + STARTUP_S
    while (newer := await box.link("ren@reset.example", "/account/set-password")) == older:
        assert time.monotonic() < deadline, "no second reset email"
        await _sleep(0.1)
    for received in smtp.messages:
        assert "evil.example" not in received.message.get_content()
        assert received.message["Subject"] != "Hijacked"
    new_password = "a different long passphrase"
    voided = await http.post("/v1/auth/password", json={"token": older, "password": new_password})
    assert voided.status_code == 404
    done = await http.post("/v1/auth/password", json={"token": newer, "password": new_password})
    assert done.status_code == 200
    twice = await http.post("/v1/auth/password", json={"token": newer, "password": PASSWORD})
    assert twice.status_code == 404 and twice.json()["type"] == "/problems/link-expired"
    # The reset ended every session; the old password is refused, the new one works.
    assert (await http.get("/v1/me", headers=bearer(signed_in["access_token"]))).status_code == 401
    old = await http.post(
        "/v1/auth/login",
        json={"tenant_id": tenant, "email": "ren@reset.example", "password": PASSWORD},
    )
    assert old.status_code == 401
    await login(http, tenant, "ren@reset.example", new_password)
    # Nobody of that email: the same 202, and no email.
    before = len(smtp.messages)
    nobody = {"tenant_id": tenant, "email": "nobody@reset.example"}
    assert (await http.post("/v1/auth/password-reset", json=nobody)).status_code == 202
    await _sleep(2.0)
    assert len(smtp.messages) == before
    assert "password.reset" in await audit_actions(settings, tenant)


def _comparable(answer: httpx.Response) -> tuple[int, dict[str, Any], str]:
    return answer.status_code, answer.json(), answer.headers.get("www-authenticate", "")


async def test_an_unknown_email_and_a_wrong_password_answer_alike(api: ApiClient) -> None:
    http = api.http
    made = await signup(http, "Alike", "al@alike.example", queued=False)  # no email topics
    tenant = made["tenant_id"]
    wrong: list[tuple[int, dict[str, Any], str]] = []
    unknown: list[tuple[int, dict[str, Any], str]] = []
    timings: dict[str, list[float]] = {"wrong": [], "unknown": []}
    for n in range(7):
        for kind, email in (("wrong", "al@alike.example"), ("unknown", f"x{n}@alike.example")):
            started = time.perf_counter()
            answer = await http.post(
                "/v1/auth/login",
                json={"tenant_id": tenant, "email": email, "password": f"guess number {n}"},
            )
            timings[kind].append(time.perf_counter() - started)
            (wrong if kind == "wrong" else unknown).append(_comparable(answer))
    assert wrong[0][0] == 401 and wrong[0][1]["type"] == "/problems/invalid-credentials"
    assert set(map(repr, wrong)) == set(map(repr, unknown)) and len(set(map(repr, wrong))) == 1
    slow, fast = statistics.median(timings["wrong"]), statistics.median(timings["unknown"])
    print(f"median wrong password {slow * 1000:.1f} ms, unknown email {fast * 1000:.1f} ms")
    assert 0.33 < fast / slow < 3.0


async def test_without_kafka_an_invitation_stands_and_can_be_sent_again(settings: Settings) -> None:
    """Kafka unreachable: the person is invited all the same, the answer says the email is not
    on its way, and the admin can send it again later."""
    from tests.integration.servers import free_port
    from vq.api import create_app

    offline = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    app = create_app(offline)
    async with app.router.lifespan_context(app):
        _, key = await app.state.services.directory.create_tenant("Offline")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vq.test") as http:
            started = time.monotonic()
            invited = await invite(http, key.secret, "kim@offline.example", "staff")
            assert time.monotonic() - started < 8.0
            assert invited["email_queued"] is False
            again = await http.post(
                f"/v1/users/{invited['user_id']}/invite", headers=bearer(key.secret)
            )
            assert again.status_code == 200 and again.json()["email_queued"] is False
            listed = await http.get("/v1/users", headers=bearer(key.secret))
            assert [u["email"] for u in listed.json()["users"]] == ["kim@offline.example"]


async def test_staff_serve_the_queues_they_are_assigned(
    api: ApiClient, smtp: SmtpReceiver, mail: None
) -> None:
    """Assignments name the organisation's own queues; taking a queue away signs the person out
    (their tokens name it), giving them every queue does not."""
    http, box = api.http, Mailbox(smtp)
    queue_id = await api.create_queue()
    key = api.keys["admin"]
    stranger = await invite(http, key, "x@clinic.example", "staff", queues=[queue_id])
    assert stranger["queues"] == [queue_id]
    elsewhere = await http.post(
        "/v1/users",
        json={"email": "y@clinic.example", "name": "Y", "role": "staff", "queues": [str(uuid4())]},
        headers=bearer(key),
    )
    assert elsewhere.status_code == 404
    token = await box.link("x@clinic.example", "/account/set-password")
    set_ = await http.post("/v1/auth/password", json={"token": token, "password": PASSWORD})
    assert set_.status_code == 200
    person = await login(http, api.tenant_id, "x@clinic.example")
    assert person["user"]["queues"] == [queue_id]
    await _act_on_assigned_queues_only(api, bearer(person["access_token"]), queue_id)
    path = f"/v1/users/{stranger['user_id']}"
    everything = await http.patch(path, json={"queues": None}, headers=bearer(key))
    assert everything.status_code == 200 and everything.json()["queues"] is None
    assert (await http.get("/v1/me", headers=bearer(person["access_token"]))).status_code == 200
    narrowed = await http.patch(
        path, json={"queues": [queue_id], "name": None}, headers=bearer(key)
    )
    assert narrowed.status_code == 200 and narrowed.json()["name"] == "Staff Person"
    assert (await http.get("/v1/me", headers=bearer(person["access_token"]))).status_code == 401


async def _act_on_assigned_queues_only(api: ApiClient, auth: dict[str, str], own: str) -> None:
    """Staff assigned to `own` act on its tickets, not on another queue's, nor move one there."""
    other = await api.create_queue()
    theirs = (await api.enqueue(other))["ticket"]["ticket_id"]
    refused = await api.http.post(f"/v1/tickets/{theirs}/cancel", headers=auth)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == "/problems/forbidden" and other in refused.json()["detail"]
    ours = (await api.enqueue(own))["ticket"]["ticket_id"]
    moved = await api.http.post(
        f"/v1/tickets/{ours}/transfer", json={"to_queue_id": other}, headers=auth
    )
    assert moved.status_code == 403, moved.text
    cancelled = await api.http.post(f"/v1/tickets/{ours}/cancel", headers=auth)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["queue_id"] == own
    still = await api.post(f"/v1/tickets/{theirs}/cancel")  # the refusal changed nothing
    assert still.status_code == 200 and still.json()["queue_id"] == other, still.text
    # Another organisation's queue does not exist for them: a 404, not a 403.
    bank = {"Authorization": f"Bearer {api.other_tenant_key}"}
    foreign = await api.http.post(
        "/v1/queues", json={"name": "Teller", "counters": ["1"]}, headers=bank
    )
    assert foreign.status_code == 201, foreign.text
    called = await api.http.post(
        f"/v1/queues/{foreign.json()['queue_id']}/call-next", json={"counter": "1"}, headers=auth
    )
    assert called.status_code == 404, called.text


async def test_a_second_factor_at_sign_in(api: ApiClient) -> None:
    """The sign-in side of MFA: an organisation that asks admins for a second factor opens only
    their own routes until they enrol; once enrolled, a sign-in needs a current code."""
    http = api.http
    made = await signup(http, "Twofold", "tia@twofold.example", queued=False)
    tenant = made["tenant_id"]
    first = await login(http, tenant, "tia@twofold.example")
    assert first["mfa"] is False and first["mfa_enrolment_required"] is False
    policy = {"mfa_roles": ["admin"], "rate_limit_per_minute": None, "cors_origins": []}
    put = await http.put("/v1/settings/access", json=policy, headers=bearer(first["access_token"]))
    assert put.status_code == 200, put.text

    pending = await login(http, tenant, "tia@twofold.example")
    assert pending["mfa_enrolment_required"] is True
    as_pending = bearer(pending["access_token"])
    blocked = await http.get("/v1/users", headers=as_pending)
    assert blocked.status_code == 403
    assert blocked.json()["type"] == "/problems/mfa-enrolment-required"
    started = await http.post("/v1/me/mfa/totp", headers=as_pending)
    assert started.status_code in (200, 201), started.text
    totp = pyotp.TOTP(started.json()["secret"])
    confirmed = await http.post(
        "/v1/me/mfa/totp/confirm", json={"code": totp.now()}, headers=as_pending
    )
    assert confirmed.status_code in (200, 201), confirmed.text

    body = {"tenant_id": tenant, "email": "tia@twofold.example", "password": PASSWORD}
    bare = await http.post("/v1/auth/login", json=body)
    assert bare.status_code == 401 and bare.json()["type"] == "/problems/mfa-required"
    wrong = await http.post("/v1/auth/login", json={**body, "otp": "000000"})
    assert wrong.status_code == 401 and wrong.json()["type"] == "/problems/mfa-required"
    # The code of the next time step (the confirmation used this step's: codes work once).
    later = totp.at(time.time() + 30)
    signed = await http.post("/v1/auth/login", json={**body, "otp": later})
    assert signed.status_code == 200, signed.text
    assert signed.json()["mfa"] is True and signed.json()["mfa_enrolment_required"] is False
    users = await http.get("/v1/users", headers=bearer(signed.json()["access_token"]))
    assert users.status_code == 200
    replayed = await http.post("/v1/auth/login", json={**body, "otp": later})
    assert replayed.status_code == 401
