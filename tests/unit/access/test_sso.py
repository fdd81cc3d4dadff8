"""Single sign-on's pure parts: the ID token checks (with keys made here), the role mapping and
who may come in, the discovery document, the issuers that may be configured, and the guard on
the provider's address."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from access.sso import Discovery, Identity, Pending, binding_cookie, refusal, role_for
from access.sso_provider import (
    IssuerHttp,
    IssuerRefused,
    SsoFailed,
    UnknownKey,
    issuer_refusal,
    validate_id_token,
)
from access.sso_store import SsoChange, SsoSettings
from notifications.outbound import Guard

ISSUER = "https://login.example.com/realms/clinic"
CLIENT = "vq-clinic"
NONCE = "n-0S6_WzA2Mj"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    found: dict[str, Any] = jwt.get_algorithm_by_name(alg).to_jwk(key.public_key(), as_dict=True)
    return {**found, "kid": kid, "alg": alg, "use": "sig"}


JWKS = {"keys": [public_jwk(RSA_KEY, "rsa-1", "RS256"), public_jwk(EC_KEY, "ec-1", "ES256")]}


def id_token(
    key: Any = RSA_KEY, alg: str = "RS256", kid: str | None = "rsa-1", **claims: Any
) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "sub": "248289761001",
        "aud": CLIENT,
        "nonce": NONCE,
        "iat": now,
        "exp": now + 300,
        **claims,
    }
    body = {name: value for name, value in body.items() if value is not None}
    headers = {"kid": kid} if kid else {}
    return jwt.encode(body, key, algorithm=alg, headers=headers)


def check(token: str, jwks: dict[str, Any] = JWKS, **overrides: str) -> dict[str, Any]:
    given = {"issuer": ISSUER, "client_id": CLIENT, "nonce": NONCE, **overrides}
    return validate_id_token(token, jwks, **given)


def test_a_good_id_token_gives_its_claims() -> None:
    assert check(id_token())["sub"] == "248289761001"
    assert check(id_token(EC_KEY, "ES256", "ec-1"))["aud"] == CLIENT
    # Audiences listing ours, with azp naming us, are ours too.
    assert check(id_token(aud=[CLIENT, "api://x"], azp=CLIENT))["azp"] == CLIENT


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: id_token(aud="vq-bank"), "another client"),
        (lambda: id_token(aud=[CLIENT, "vq-bank"]), "another client (azp)"),
        (lambda: id_token(azp="vq-bank"), "another client (azp)"),
        (lambda: id_token(iss="https://evil.example.com"), "another provider"),
        (lambda: id_token(nonce="someone-elses"), "nonce"),
        (lambda: id_token(nonce=None), "nonce"),
        (lambda: id_token(exp=int(time.time()) - 600), "expired"),
        (lambda: id_token(iat=int(time.time()) + 3600), "not valid"),
        (lambda: id_token(iat=None), "not valid"),
        (lambda: id_token(sub=None), "not valid"),
        (lambda: id_token(OTHER_RSA), "signature is not valid"),
        (lambda: id_token(key="a-shared-secret-of-32-bytes-long!", alg="HS256"), "not accepted"),
        (lambda: id_token(EC_KEY, "ES256", "rsa-1"), "not signed with one of the provider's keys"),
        (lambda: "not.a.jwt", "not a JWT"),
    ],
)
def test_a_wrong_id_token_is_refused(make: Callable[[], str], words: str) -> None:
    # Made when the test runs, not when it is collected (minutes earlier in a long session).
    with pytest.raises(SsoFailed, match=words.replace("(", r"\(").replace(")", r"\)")):
        check(make())


def test_the_audience_is_the_configured_client() -> None:
    """A token the same provider issued to another organisation's client is refused."""
    token = id_token(aud="vq-bank")
    assert check(token, client_id="vq-bank")["aud"] == "vq-bank"
    with pytest.raises(SsoFailed, match="another client"):
        check(token, client_id=CLIENT)


def test_alg_none_is_refused() -> None:
    unsigned = jwt.encode({"iss": ISSUER, "sub": "x", "aud": CLIENT}, None, algorithm="none")
    with pytest.raises(SsoFailed, match="not accepted"):
        check(unsigned)


def test_an_unknown_kid_asks_for_the_keys_again() -> None:
    with pytest.raises(UnknownKey):
        check(id_token(kid="rotated-in"))
    rotated = {"keys": [*JWKS["keys"], public_jwk(OTHER_RSA, "rotated-in", "RS256")]}
    assert check(id_token(OTHER_RSA, kid="rotated-in"), rotated)["sub"]


def test_without_a_kid_only_a_single_fitting_key_is_used() -> None:
    one = {"keys": [public_jwk(RSA_KEY, "rsa-1", "RS256")]}
    assert check(id_token(kid=None), one)["sub"]
    with pytest.raises(UnknownKey):
        check(id_token(kid=None), {"keys": [*one["keys"], public_jwk(OTHER_RSA, "b", "RS256")]})


def test_an_encryption_key_does_not_verify() -> None:
    enc = {"keys": [{**public_jwk(RSA_KEY, "rsa-1", "RS256"), "use": "enc"}]}
    with pytest.raises(UnknownKey):
        check(id_token(), enc)


def test_a_key_of_another_type_than_the_algorithm_is_refused() -> None:
    mislabelled = {"keys": [{**public_jwk(EC_KEY, "ec-1", "ES256"), "alg": "RS256"}]}
    with pytest.raises(SsoFailed):
        check(id_token(kid="ec-1"), mislabelled)


def sso(**overrides: Any) -> SsoSettings:
    given: dict[str, Any] = {
        "tenant_id": "00000000-0000-0000-0000-000000000001",
        "issuer": ISSUER,
        "client_id": CLIENT,
        "sealed_secret": b"sealed",
        "scopes": (),
        "role_claim": "groups",
        "role_map": {"queue-managers": "manager", "front-desk": "staff", "it": "admin"},
        "default_role": None,
        "email_domains": (),
        "enabled": True,
        "updated_at": datetime.now(UTC),
        **overrides,
    }
    return SsoSettings(**given)


def person(**claims: Any) -> Identity:
    base = {"sub": "s", "email": "ann@clinic.example", "email_verified": True, **claims}
    verified = base["email_verified"]
    return Identity(
        issuer=ISSUER,
        subject="s",
        email=base["email"],
        email_verified=verified if isinstance(verified, bool) else None,
        name="Ann",
        claims=base,
    )


def test_the_most_privileged_mapped_role_wins() -> None:
    assert role_for(sso(), {"groups": ["front-desk", "queue-managers"]}) == "manager"
    assert role_for(sso(), {"groups": ["front-desk", "it", "x"]}) == "admin"
    assert role_for(sso(), {"groups": "front-desk"}) == "staff"
    assert role_for(sso(), {"groups": ["everyone"]}) is None
    assert role_for(sso(), {}) is None
    assert role_for(sso(default_role="viewer"), {"groups": ["everyone"]}) == "viewer"
    # Values are compared exactly (a provider's "Front-Desk" is another group).
    assert role_for(sso(), {"groups": ["Front-Desk", 7, None]}) is None


def test_a_dotted_role_claim_reaches_into_objects() -> None:
    keycloak = sso(role_claim="realm_access.roles", role_map={"vq-staff": "staff"})
    assert role_for(keycloak, {"realm_access": {"roles": ["offline", "vq-staff"]}}) == "staff"
    assert role_for(keycloak, {"realm_access": ["vq-staff"]}) is None
    # A claim whose own name has dots (a namespaced URL) is found by that name first.
    namespaced = sso(role_claim="https://vq.example/roles", role_map={"admins": "admin"})
    assert role_for(namespaced, {"https://vq.example/roles": ["admins"]}) == "admin"


def test_who_may_come_in() -> None:
    mapped = {"groups": ["front-desk"]}
    assert refusal(sso(), person(**mapped)) is None
    assert "no role" in (refusal(sso(), person(groups=["everyone"])) or "")
    assert "no email" in (refusal(sso(), person(email=None, **mapped)) or "")
    assert "not verified" in (refusal(sso(), person(email_verified=False, **mapped)) or "")
    # A provider that does not say whether it verified the address is believed.
    assert refusal(sso(), person(email_verified=None, **mapped)) is None
    limited = sso(email_domains=("clinic.example",))
    assert refusal(limited, person(**mapped)) is None
    outside = person(email="ann@clinic.example.evil.test", **mapped)
    assert "clinic.example.evil.test may not sign in" in (refusal(limited, outside) or "")


def test_roles_people_do_not_hold_cannot_be_mapped() -> None:
    with pytest.raises(ValueError, match="kiosk"):
        SsoChange(issuer=ISSUER, client_id=CLIENT, client_secret="s", role_map={"x": "kiosk"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="display"):
        SsoChange(issuer=ISSUER, client_id=CLIENT, client_secret="s", default_role="display")  # type: ignore[arg-type]


def discovery_doc(**overrides: Any) -> dict[str, Any]:
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/auth",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/jwks",
        "userinfo_endpoint": f"{ISSUER}/me",
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "groups"],
        **overrides,
    }


def test_the_discovery_document_must_be_the_issuers_and_fit_the_code_flow() -> None:
    found = Discovery.parse(ISSUER, discovery_doc())
    assert found.token_endpoint == f"{ISSUER}/token" and found.scopes_supported == (
        "openid",
        "groups",
    )
    assert Discovery.parse(ISSUER, discovery_doc(userinfo_endpoint=None)).userinfo_endpoint is None
    for doc, words in (
        (discovery_doc(issuer="https://evil.example.com"), "another issuer"),
        (discovery_doc(issuer=ISSUER + "/"), "another issuer"),
        (discovery_doc(token_endpoint=None), "token_endpoint"),
        (discovery_doc(jwks_uri="file:///etc/passwd"), "jwks_uri"),
        (discovery_doc(code_challenge_methods_supported=["plain"]), "S256"),
        (discovery_doc(token_endpoint_auth_methods_supported=["private_key_jwt"]), "basic"),
    ):
        with pytest.raises(SsoFailed, match=words):
            Discovery.parse(ISSUER, doc)


def test_the_issuers_that_may_be_configured() -> None:
    loopback = Guard.allowing(["127.0.0.1/32"])
    assert issuer_refusal(ISSUER, Guard()) is None
    assert issuer_refusal("http://127.0.0.1:9000", loopback) is None
    assert issuer_refusal("http://127.0.0.1:9000", Guard()) is not None
    assert issuer_refusal("http://login.example.com", loopback) is not None
    assert issuer_refusal(ISSUER + "?tenant=1", Guard()) is not None
    assert issuer_refusal(ISSUER + "#x", Guard()) is not None
    assert issuer_refusal("javascript:alert(1)", Guard()) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/.well-known/openid-configuration",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/x",
        "http://[::ffff:10.0.0.1]/x",
        "http://localhost:9/x",
    ],
)
async def test_the_provider_is_called_only_at_permitted_addresses(url: str) -> None:
    with pytest.raises(IssuerRefused):
        await IssuerHttp(Guard()).get_json(url)


def test_a_sign_in_is_bound_to_its_browser() -> None:
    pending = Pending(
        tenant_id="t",
        issuer=ISSUER,
        client_id=CLIENT,
        redirect_uri="https://vq.example/cb",
        nonce=NONCE,
        code_verifier="v" * 64,
        binding=hashlib.sha256(b"the-browsers-cookie").hexdigest(),
    )
    assert pending.bound_to("the-browsers-cookie")
    assert not pending.bound_to(None)
    assert not pending.bound_to("someone-elses-cookie")
    assert binding_cookie("state-1") != binding_cookie("state-2")
    assert binding_cookie("state-1").startswith("vq_sso_")
