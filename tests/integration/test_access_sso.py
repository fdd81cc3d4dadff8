"""Single sign-on against a real OpenID Provider on loopback (oidc-provider, tests/oidc/), with
the API in process on real PostgreSQL and Redis (issue 20, acceptance 2).

Two organisations each have their own client at the same provider. A person signs in with the
authorization code flow (PKCE), is made just in time with the role their `groups` claim maps to,
and gets the product's tokens; a code obtained for the other organisation's client, a replayed
state, a callback from another browser, an unmapped claim, an email outside the allowed domains
or unverified are all refused (401 sso-failed, audited); a provider that is down is a 503.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import psycopg
import pytest
from psycopg import sql

from access.sso import Oidc
from core.settings import Settings
from tests.integration.conftest import ApiClient
from tests.integration.oidc_provider import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    ERIN,
    Account,
    Client,
    OidcProvider,
    abort,
    sign_in,
)

PUBLIC_URL = "http://vq.test"
REDIRECT_URI = f"{PUBLIC_URL}/v1/auth/sso/callback"
CLINIC = Client("vq-clinic", "clinic-" + uuid.uuid4().hex, [REDIRECT_URI])
BANK = Client("vq-bank", "bank-" + uuid.uuid4().hex, [REDIRECT_URI])
ROLE_MAP = {"queue-managers": "manager", "front-desk": "staff"}


@pytest.fixture(scope="module")
def idp() -> Iterator[OidcProvider]:
    with OidcProvider([CLINIC, BANK]) as provider:
        yield provider


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The API's public URL is the test client's; the provider on loopback may be called."""
    return settings.model_copy(update={"public_url": PUBLIC_URL, "outbound_allow": "127.0.0.1/32"})


def sso_body(issuer: str, client: Client, **overrides: Any) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "role_claim": "groups",
        "role_map": ROLE_MAP,
        **overrides,
    }


async def configure(api: ApiClient, body: dict[str, Any], key: str | None = None) -> str:
    """Set an organisation's SSO (the test tenant's, or the tenant of `key`); its tenant id."""
    headers = {"Authorization": f"Bearer {key}"} if key else api.auth("admin")
    answer = await api.http.put("/v1/settings/sso", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    start_url = answer.json()["start_url"]
    assert start_url.startswith(f"{PUBLIC_URL}/v1/auth/sso/") and start_url.endswith("/start")
    return start_url.split("/")[-2]


async def start(api: ApiClient, tenant_id: str) -> tuple[str, str]:
    """Open the organisation's sign-in: the provider's authorization URL and its state."""
    answer = await api.http.get(f"/v1/auth/sso/{tenant_id}/start")
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    return location, parse_qs(urlsplit(location).query)["state"][0]


async def full_sign_in(api: ApiClient, tenant_id: str, account: Account) -> httpx.Response:
    authorize, _ = await start(api, tenant_id)
    back = await sign_in(authorize, account, redirect_uri=REDIRECT_URI)
    return await api.http.get(back.removeprefix(PUBLIC_URL))


def params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def rows(settings: Settings, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(settings.db_schema)))
        return conn.execute(query, args).fetchall()


def refused(answer: httpx.Response, words: str) -> None:
    assert answer.status_code == 401, answer.text
    problem = answer.json()
    assert problem["type"] == "/problems/sso-failed", problem
    assert words in problem["detail"], problem


async def test_sign_in_makes_the_person_just_in_time_with_the_mapped_role(
    api: ApiClient, idp: OidcProvider, settings: Settings
) -> None:
    tenant = await configure(api, sso_body(idp.issuer, CLINIC))
    assert tenant == api.tenant_id
    authorize, state = await start(api, tenant)
    query = params(authorize)
    assert authorize.startswith(f"{idp.issuer}/auth?")
    assert query["client_id"] == CLINIC.client_id and query["redirect_uri"] == REDIRECT_URI
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert set(query["scope"].split()) == {"openid", "email", "profile", "groups"}
    assert query["nonce"] and state

    back = await sign_in(authorize, ALICE, redirect_uri=REDIRECT_URI)
    assert params(back)["state"] == state and params(back)["iss"] == idp.issuer
    answer = await api.http.get(back.removeprefix(PUBLIC_URL))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    signed = answer.json()
    assert signed["token_type"] == "Bearer" and signed["expires_in"] == settings.access_token_ttl_s
    assert 0 < signed["refresh_expires_in"] <= settings.refresh_token_ttl_s
    user = signed["user"]
    assert (user["email"], user["name"], user["role"]) == (ALICE.email, ALICE.name, "manager")

    claims = jwt.decode(signed["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user["user_id"] and claims["tid"] == tenant
    assert claims["role"] == "manager" and claims["mfa"] is True
    stored = rows(
        settings,
        "SELECT user_id::text, tenant_id::text, email, role, sso_issuer, sso_subject, "
        "email_verified_at IS NOT NULL FROM users",
    )
    assert stored == [
        (user["user_id"], tenant, ALICE.email, "manager", idp.issuer, ALICE.sub, True)
    ]
    # The product's own token opens the API (a manager may read, may not manage settings).
    bearer = {"Authorization": f"Bearer {signed['access_token']}"}
    assert (await api.http.get("/v1/queues", headers=bearer)).status_code == 200
    assert (await api.http.get("/v1/settings/sso", headers=bearer)).status_code == 403

    again = await full_sign_in(api, tenant, ALICE)
    assert again.status_code == 200, again.text
    assert again.json()["user"]["user_id"] == user["user_id"]
    assert again.json()["refresh_token"] != signed["refresh_token"]
    assert rows(settings, "SELECT count(*) FROM users") == [(1,)]
    logins = rows(
        settings,
        "SELECT actor, subject, detail->>'method', detail->>'issuer' FROM audit_log "
        "WHERE action = 'login' ORDER BY seq",
    )
    assert logins == [(f"user:{user['user_id']}", user["user_id"], "sso", idp.issuer)] * 2


async def test_another_person_gets_their_own_mapped_role(
    api: ApiClient, idp: OidcProvider, settings: Settings
) -> None:
    tenant = await configure(api, sso_body(idp.issuer, CLINIC))
    alice = (await full_sign_in(api, tenant, ALICE)).json()["user"]
    bob = await full_sign_in(api, tenant, BOB)
    assert bob.status_code == 200, bob.text
    assert bob.json()["user"]["role"] == "staff"
    assert bob.json()["user"]["user_id"] != alice["user_id"]
    assert sorted(rows(settings, "SELECT email, role FROM users")) == [
        (ALICE.email, "manager"),
        (BOB.email, "staff"),
    ]


async def test_a_code_for_the_other_organisations_client_is_refused(
    api: ApiClient, idp: OidcProvider, settings: Settings
) -> None:
    clinic = await configure(api, sso_body(idp.issuer, CLINIC))
    bank = await configure(api, sso_body(idp.issuer, BANK), key=api.other_tenant_key)
    assert bank != clinic

    _, clinic_state = await start(api, clinic)
    bank_authorize, _ = await start(api, bank)
    bank_back = await sign_in(bank_authorize, ALICE, redirect_uri=REDIRECT_URI)
    mixed = await api.http.get(
        "/v1/auth/sso/callback", params={"code": params(bank_back)["code"], "state": clinic_state}
    )
    refused(mixed, "identity provider answered 400 (invalid_grant)")
    assert rows(settings, "SELECT count(*) FROM users") == [(0,)]
    audited = rows(
        settings,
        "SELECT tenant_id::text, actor, detail->>'reason' FROM audit_log "
        "WHERE action = 'sso.refused'",
    )
    assert audited == [(clinic, "sso", "the identity provider answered 400 (invalid_grant)")]

    # The bank's own flow still works with its own state: a person of the bank, made there.
    bank_signed = await full_sign_in(api, bank, BOB)
    assert bank_signed.status_code == 200, bank_signed.text
    claims = jwt.decode(bank_signed.json()["access_token"], options={"verify_signature": False})
    assert claims["tid"] == bank


async def test_a_state_is_used_once(api: ApiClient, idp: OidcProvider) -> None:
    tenant = await configure(api, sso_body(idp.issuer, CLINIC))
    authorize, _ = await start(api, tenant)
    back = (await sign_in(authorize, ALICE, redirect_uri=REDIRECT_URI)).removeprefix(PUBLIC_URL)
    assert (await api.http.get(back)).status_code == 200
    refused(await api.http.get(back), "used already")
    forged = {"code": params(back)["code"], "state": "not-a-state-we-made"}
    refused(await api.http.get("/v1/auth/sso/callback", params=forged), "unknown")


async def test_the_callback_must_come_from_the_browser_that_started(
    api: ApiClient, idp: OidcProvider, settings: Settings
) -> None:
    tenant = await configure(api, sso_body(idp.issuer, CLINIC))
    authorize, _ = await start(api, tenant)
    back = await sign_in(authorize, ALICE, redirect_uri=REDIRECT_URI)
    api.http.cookies.clear()  # another browser: no cookie from the start
    refused(await api.http.get(back.removeprefix(PUBLIC_URL)), "another browser")
    assert rows(settings, "SELECT count(*) FROM users") == [(0,)]


async def test_a_person_whose_claim_maps_to_no_role_is_refused(
    api: ApiClient, idp: OidcProvider, settings: Settings
) -> None:
    tenant = await configure(api, sso_body(idp.issuer, CLINIC))
    refused(await full_sign_in(api, tenant, CAROL), "no role is mapped")
    assert rows(settings, "SELECT count(*) FROM users") == [(0,)]
    audited = rows(
        settings, "SELECT subject, detail->>'email' FROM audit_log WHERE action = 'sso.refused'"
    )
    assert audited == [(f"sso:{CAROL.sub}", CAROL.email)]

    # With a default role (and the secret kept: not sent again), she comes in as a viewer.
    await configure(
        api, {**sso_body(idp.issuer, CLINIC, default_role="viewer"), "client_secret": None}
    )
    carol = await full_sign_in(api, tenant, CAROL)
    assert carol.status_code == 200, carol.text
    assert carol.json()["user"]["role"] == "viewer"


async def test_email_domains_and_unverified_emails_are_refused(
    api: ApiClient, idp: OidcProvider, settings: Settings
) -> None:
    tenant = await configure(api, sso_body(idp.issuer, CLINIC, email_domains=["Clinic.Example"]))
    refused(await full_sign_in(api, tenant, DAVE), "elsewhere.example may not sign in")
    refused(await full_sign_in(api, tenant, ERIN), "not verified")
    assert rows(settings, "SELECT count(*) FROM users") == [(0,)]
    assert (await full_sign_in(api, tenant, ALICE)).status_code == 200


async def test_the_provider_refusing_is_a_401(api: ApiClient, idp: OidcProvider) -> None:
    tenant = await configure(api, sso_body(idp.issuer, CLINIC))
    authorize, _ = await start(api, tenant)
    back = await abort(authorize, redirect_uri=REDIRECT_URI)
    assert params(back)["error"] == "access_denied"
    refused(await api.http.get(back.removeprefix(PUBLIC_URL)), "access_denied")
    # The state went with the refusal.
    retry = {"code": "x", "state": params(back)["state"]}
    refused(await api.http.get("/v1/auth/sso/callback", params=retry), "used already")


async def test_a_provider_that_is_down_is_a_503(api: ApiClient, settings: Settings) -> None:
    with OidcProvider([CLINIC]) as provider:
        tenant = await configure(api, sso_body(provider.issuer, CLINIC))
        authorize, _ = await start(api, tenant)
        back = await sign_in(authorize, ALICE, redirect_uri=REDIRECT_URI)
    down = await api.http.get(back.removeprefix(PUBLIC_URL))  # the token endpoint is gone
    assert down.status_code == 503, down.text
    assert int(down.headers["retry-after"]) > 0
    assert down.json()["type"] == "/problems/service-unavailable"
    assert provider.issuer.split("//")[1] not in down.text  # hosts go to the log only
    Oidc._discovered.pop(provider.issuer, None)  # not yet discovered in this process
    assert (await api.http.get(f"/v1/auth/sso/{tenant}/start")).status_code == 503


async def test_the_settings_keep_the_secret_to_themselves(
    api: ApiClient, idp: OidcProvider, settings: Settings
) -> None:
    path = "/v1/settings/sso"
    assert (await api.http.get(path, headers=api.auth())).status_code == 404
    no_secret = {**sso_body(idp.issuer, CLINIC), "client_secret": None}
    assert (await api.http.put(path, json=no_secret, headers=api.auth())).status_code == 409
    made = await api.http.put(path, json=sso_body(idp.issuer, CLINIC), headers=api.auth())
    assert made.status_code == 200, made.text
    shown = (await api.http.get(path, headers=api.auth())).json()
    assert shown["client_secret_set"] is True and "client_secret" not in shown
    assert shown["redirect_uri"] == REDIRECT_URI and shown["role_map"] == ROLE_MAP
    sealed = rows(settings, "SELECT client_secret FROM sso_settings")[0][0]
    everything = str(rows(settings, "SELECT * FROM audit_log")) + made.text + str(shown)
    assert CLINIC.client_secret not in everything
    assert CLINIC.client_secret.encode() not in bytes(sealed)
    changes = rows(settings, "SELECT actor FROM audit_log WHERE action = 'sso.settings_changed'")
    assert len(changes) == 1 and changes[0][0].startswith("key:")

    for role in ("staff", "viewer", "kiosk"):
        assert (await api.http.get(path, headers=api.auth(role))).status_code == 403
    other = {"Authorization": f"Bearer {api.other_tenant_key}"}
    assert (await api.http.get(path, headers=other)).status_code == 404

    assert (await api.http.delete(path, headers=api.auth())).status_code == 204
    assert (await api.http.get(path, headers=api.auth())).status_code == 404
    assert (await api.http.get(f"/v1/auth/sso/{api.tenant_id}/start")).status_code == 404
    assert (await api.http.get(f"/v1/auth/sso/{uuid.uuid4()}/start")).status_code == 404


async def test_issuers_that_may_not_be_used_are_refused(api: ApiClient, idp: OidcProvider) -> None:
    # Well-shaped issuers (an http(s) URL, as the document says) the server's rules refuse: 409.
    for issuer, words in (
        ("http://10.1.2.3:8080", "plain http"),
        ("https://127.0.0.2:8443", "may not be called"),
        ("https://[::1/realms/x", "https URL"),
        (idp.issuer + "/other", "answered 404"),
    ):
        answer = await api.http.put(
            "/v1/settings/sso", json=sso_body(issuer, CLINIC), headers=api.auth()
        )
        assert answer.status_code == 409, (issuer, answer.text)
        assert words in answer.json()["detail"], (issuer, answer.text)
    # Not an http(s) URL without user, query or fragment: the document says so (422).
    for issuer in ("ftp://127.0.0.1/x", "https://login.example/?realm=x", "login.example"):
        answer = await api.http.put(
            "/v1/settings/sso", json=sso_body(issuer, CLINIC), headers=api.auth()
        )
        assert answer.status_code == 422, (issuer, answer.text)
        assert answer.json()["errors"][0]["loc"] == ["body", "issuer"], answer.text
