"""Access tokens, pure: keys made here (no PostgreSQL), the deny-list on an in-memory stand-in.

Every way a token can be not ours is refused with InvalidToken and a reason: forged payloads,
another key under our kid, `alg: none`, HS256 keyed with our public key, RS256, unknown kids,
another audience or issuer, expired, missing or mistyped claims, and any garbage at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from joserfc.jwk import ECKey
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from access.signing_keys import (
    LEEWAY_S,
    SigningKey,
    current_key,
    new_private_key,
    public_jwk,
    thumbprint,
    verifies_for_s,
)
from access.tokens import AccessTokens, DenyListUnavailable, InvalidToken
from core.errors import Unavailable
from core.settings import Settings

SETTINGS = Settings(
    env="dev",
    secret_key="unit-test-secret-key-0123456789abcdef",
    public_url="https://queue.example.org",
    jwt_audience="vq-api",
    redis_prefix="unit",
)
NOW = datetime.now(UTC)


class StaticKeys:
    """A key source holding keys made in the test: the first signs."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = {key.kid: key for key in keys}
        self.current = keys[0]

    async def signing_key(self) -> SigningKey:
        return self.current

    async def verification_key(self, kid: str) -> SigningKey | None:
        return self.keys.get(kid)

    async def published(self) -> list[SigningKey]:
        return list(self.keys.values())

    async def rotate(self, *, ahead_s: float, actor: str) -> str:
        self.current = SigningKey.of(new_private_key(), created_at=datetime.now(UTC))
        self.keys[self.current.kid] = self.current
        return self.current.kid


class MemoryRedis:
    def __init__(self) -> None:
        self.values: dict[str, tuple[bytes, int | None]] = {}
        self.published: list[tuple[str, str]] = []

    async def publish(self, channel: str, message: str) -> int:
        self.published.append((channel, message))
        return 0

    async def set(self, key: str, value: bytes, ex: int | None = None) -> bool:
        self.values[key] = (value, ex)
        return True

    async def exists(self, key: str) -> int:
        return int(key in self.values)


class DeadRedis:
    async def set(self, key: str, value: bytes, ex: int | None = None) -> bool:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:56379")

    async def exists(self, key: str) -> int:
        raise RedisTimeoutError("Timeout reading from socket")


def make_key() -> SigningKey:
    return SigningKey.of(new_private_key(), created_at=NOW - timedelta(hours=1))


@pytest.fixture
def key() -> SigningKey:
    return make_key()


@pytest.fixture
def redis() -> MemoryRedis:
    return MemoryRedis()


@pytest.fixture
def tokens(key: SigningKey, redis: MemoryRedis) -> AccessTokens:
    return AccessTokens(None, redis, SETTINGS, keys=StaticKeys(key))  # type: ignore[arg-type]


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": SETTINGS.public_url,
        "aud": SETTINGS.jwt_audience,
        "sub": str(uuid.uuid4()),
        "tid": str(uuid.uuid4()),
        "role": "staff",
        "sid": str(uuid.uuid4()),
        "jti": "j1",
        "iat": now,
        "exp": now + 900,
        "mfa": True,
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not ...}


def sign(key: SigningKey, payload: dict[str, Any], **header: Any) -> str:
    headers = {"kid": key.kid, "typ": "at+jwt", **header}
    return jwt.encode(payload, key.private_key, algorithm="ES256", headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)]
    )


async def refused(tokens: AccessTokens, token: Any, reason: str = "") -> str:
    with pytest.raises(InvalidToken) as caught:
        await tokens.verify(token)
    assert reason in str(caught.value)
    return str(caught.value)


# What a token carries.


async def test_an_issued_token_verifies_with_its_claims(tokens: AccessTokens) -> None:
    tenant, user, session = (str(uuid.uuid4()) for _ in range(3))
    token, ttl = await tokens.issue(
        tenant_id=tenant, user_id=user, role="manager", session_id=session, mfa=True, queues=None
    )
    assert ttl == SETTINGS.access_token_ttl_s
    found = await tokens.verify(token)
    assert (found.tenant_id, found.user_id, found.role, found.session_id) == (
        tenant,
        user,
        "manager",
        session,
    )
    assert found.mfa is True and found.queues is None
    assert abs(found.expires_at - (time.time() + ttl)) < 5


async def test_header_and_claims_follow_rfc_9068(tokens: AccessTokens, key: SigningKey) -> None:
    token, _ = await tokens.issue(
        tenant_id=str(uuid.uuid4()),
        user_id=str(uuid.uuid4()),
        role="staff",
        session_id=str(uuid.uuid4()),
        mfa=False,
        queues=("q1", "q2"),
    )
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "kid": key.kid, "typ": "at+jwt"}
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["iss"] == SETTINGS.public_url and payload["aud"] == SETTINGS.jwt_audience
    assert payload["exp"] - payload["iat"] == SETTINGS.access_token_ttl_s
    assert payload["queues"] == ["q1", "q2"] and payload["mfa"] is False
    assert (await tokens.verify(token)).queues == ("q1", "q2")
    token2, _ = await tokens.issue(
        tenant_id=str(uuid.uuid4()),
        user_id=str(uuid.uuid4()),
        role="staff",
        session_id=str(uuid.uuid4()),
        mfa=False,
        queues=None,
    )
    second = jwt.decode(token2, options={"verify_signature": False})
    assert "queues" not in second
    assert second["jti"] != payload["jti"]


async def test_a_token_verifies_with_the_published_jwk(tokens: AccessTokens) -> None:
    """What the JWKS publishes is enough for anyone else to verify our tokens."""
    token, _ = await tokens.issue(
        tenant_id=str(uuid.uuid4()),
        user_id=str(uuid.uuid4()),
        role="admin",
        session_id=str(uuid.uuid4()),
        mfa=True,
        queues=None,
    )
    (published,) = (await tokens.jwks())["keys"]
    assert published["use"] == "sig" and published["alg"] == "ES256"
    assert "d" not in published  # the private part is never published
    verifier = jwt.PyJWK(published)
    payload = jwt.decode(token, verifier, algorithms=["ES256"], audience=SETTINGS.jwt_audience)
    assert payload["role"] == "admin"


def test_kid_is_the_rfc_7638_thumbprint() -> None:
    # RFC 7517 appendix A.1's P-256 key; joserfc computes the same thumbprint.
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
        "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
    }
    assert thumbprint(jwk) == "cn-I_WNMClehiVp51i_0VpOENW1upEerA8sEam5hn-s"
    for _ in range(5):
        made = public_jwk(new_private_key().public_key())
        assert made["kid"] == ECKey.import_key(made).thumbprint()
        assert len(made["kid"]) == 43


# Refused: forged and confused.


async def test_a_forged_payload_is_refused(tokens: AccessTokens, key: SigningKey) -> None:
    token = sign(key, claims(role="staff"))
    header, _, signature = token.split(".")
    forged_payload = b64(json.dumps(claims(role="admin")).encode())
    await refused(tokens, f"{header}.{forged_payload}.{signature}", "bad signature")


async def test_another_key_under_our_kid_is_refused(tokens: AccessTokens, key: SigningKey) -> None:
    attacker = make_key()
    token = jwt.encode(
        claims(), attacker.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": "at+jwt"}
    )
    await refused(tokens, token, "bad signature")


async def test_alg_none_is_refused(tokens: AccessTokens, key: SigningKey) -> None:
    for alg in ("none", "None", "NONE", ""):
        token = handmade({"alg": alg, "typ": "at+jwt", "kid": key.kid}, claims())
        await refused(tokens, token, "not signed with ES256")
        await refused(tokens, token.rstrip(".") + ".", "not signed with ES256")
    no_alg = handmade({"typ": "at+jwt", "kid": key.kid}, claims())
    await refused(tokens, no_alg, "not signed with ES256")


async def test_hs256_keyed_with_our_public_key_is_refused(
    tokens: AccessTokens, key: SigningKey
) -> None:
    """The classic confusion: an HMAC whose secret is the public key a verifier holds."""
    pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (pem, json.dumps(key.public_jwk).encode(), key.kid.encode()):
        header = {"alg": "HS256", "typ": "at+jwt", "kid": key.kid}
        unsigned = handmade(header, claims()).rsplit(".", 1)[0]
        mac = hmac.new(secret, unsigned.encode(), hashlib.sha256).digest()
        await refused(tokens, f"{unsigned}.{b64(mac)}", "not signed with ES256")


async def test_other_asymmetric_algorithms_are_refused(
    tokens: AccessTokens, key: SigningKey
) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for alg, private in (
        ("RS256", rsa_key),
        ("PS256", rsa_key),
        ("ES384", ec.generate_private_key(ec.SECP384R1())),
    ):
        token = jwt.encode(
            claims(), private, algorithm=alg, headers={"kid": key.kid, "typ": "at+jwt"}
        )
        await refused(tokens, token, "not signed with ES256")


async def test_an_unknown_kid_is_refused(tokens: AccessTokens) -> None:
    stranger = make_key()
    await refused(tokens, sign(stranger, claims()), "unknown key")
    for kid in ("", "x" * 44, "../../etc/passwd", "a" * 42 + "!"):
        token = jwt.encode(
            claims(), stranger.private_key, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"}
        )
        await refused(tokens, token, "key id")
    for kid in (None, 7, ["x"], {"kid": "x"}):  # not even a string (pyjwt will not sign these)
        await refused(tokens, handmade({"alg": "ES256", "typ": "at+jwt", "kid": kid}, claims()))
    no_kid = jwt.encode(
        claims(), stranger.private_key, algorithm="ES256", headers={"typ": "at+jwt"}
    )
    await refused(tokens, no_kid, "key id")


async def test_another_audience_is_refused(tokens: AccessTokens, key: SigningKey) -> None:
    await refused(tokens, sign(key, claims(aud="another-api")), "audience")
    await refused(tokens, sign(key, claims(aud=["another-api"])), "audience")
    # A list that includes ours is still not exactly ours (strict audience).
    await refused(tokens, sign(key, claims(aud=[SETTINGS.jwt_audience, "x"])), "audience")


async def test_another_issuer_is_refused(tokens: AccessTokens, key: SigningKey) -> None:
    await refused(tokens, sign(key, claims(iss="https://evil.example")), "issued by someone else")


async def test_expiry_is_checked_with_a_small_leeway(tokens: AccessTokens, key: SigningKey) -> None:
    now = int(time.time())
    await refused(tokens, sign(key, claims(iat=now - 1000, exp=now - LEEWAY_S - 5)), "expired")
    await refused(tokens, sign(key, claims(iat=now - 100_000, exp=now - 90_000)), "expired")
    inside = await tokens.verify(sign(key, claims(iat=now - 905, exp=now - 5)))
    assert inside.role == "staff"
    await refused(tokens, sign(key, claims(iat=now + 600, exp=now + 1500)), "future")


async def test_a_token_of_another_type_is_refused(tokens: AccessTokens, key: SigningKey) -> None:
    await refused(tokens, sign(key, claims(), typ="JWT"), "not an access token")
    no_typ = jwt.encode(claims(), key.private_key, algorithm="ES256", headers={"kid": key.kid})
    jwt_header = jwt.get_unverified_header(no_typ)
    assert jwt_header.get("typ") == "JWT"  # pyjwt's default, which is not ours
    await refused(tokens, no_typ, "not an access token")
    await refused(tokens, sign(key, claims(), crit=["exp"]))
    await refused(tokens, sign(key, claims(), crit=["x-vq"], **{"x-vq": 1}))


@pytest.mark.parametrize(
    "claim", ["iss", "aud", "sub", "tid", "role", "sid", "jti", "iat", "exp", "mfa"]
)
async def test_each_missing_claim_is_refused(
    tokens: AccessTokens, key: SigningKey, claim: str
) -> None:
    await refused(tokens, sign(key, claims(**{claim: ...})))


@pytest.mark.parametrize(
    "changes",
    [
        {"mfa": "true"},
        {"mfa": 1},
        {"role": "superuser"},
        {"role": ["admin"]},
        {"tid": "not-a-uuid"},
        {"tid": 12},
        {"sub": None},
        {"sid": {"$ne": ""}},
        {"jti": 5},
        {"queues": "q1"},
        {"queues": [1, 2]},
        {"exp": "tomorrow"},
        {"iat": "now"},
        {"exp": 10**30},  # longer than this server ever issues
        {"exp": str(int(time.time()) + 900)},  # pyjwt itself takes numeric strings
        {"iat": str(int(time.time()))},
        {"exp": time.time() + 900.5},
        {"exp": True},
        {"iat": 1e999},
        {"tid": str(uuid.uuid4()).upper()},
    ],
)
async def test_mistyped_claims_are_refused(
    tokens: AccessTokens, key: SigningKey, changes: dict[str, Any]
) -> None:
    await refused(tokens, sign(key, claims(**changes)))


# Garbage of every kind is InvalidToken, never another exception.


GARBAGE: list[Any] = [
    None,
    "",
    " ",
    ".",
    "..",
    "...",
    "a.b.c",
    "a.b",
    "a.b.c.d.e",
    "Bearer x.y.z",
    "vq_notatoken",
    b"bytes.are.not.tokens",
    42,
    ["a", "b"],
    {"alg": "ES256"},
    "x" * 10_000,
    "eyJ" + "A" * 5000 + ".e30.",
    handmade({}, {}),
    ".".join([b64(b"null"), b64(b"{}"), ""]),
    ".".join([b64(b"[]"), b64(b"{}"), ""]),
    ".".join([b64(b'"ES256"'), b64(b"{}"), ""]),
    ".".join([b64(b"\xff\xfe"), b64(b"{}"), ""]),
    ".".join([b64(b'{"alg":"ES256","typ":"at+jwt","kid":1e999}'), b64(b"{}"), "AA"]),
    "\x00.\x00.\x00",
    "é.é.é",
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=range(len(GARBAGE)))
async def test_garbage_is_an_invalid_token(tokens: AccessTokens, garbage: Any) -> None:
    await refused(tokens, garbage)


async def test_garbage_under_our_valid_header_is_an_invalid_token(
    tokens: AccessTokens, key: SigningKey
) -> None:
    header = sign(key, claims()).split(".")[0]
    for payload in (b"", b"null", b"[]", b"123", b'"text"', b"{", b"\xff", b'{"exp":[]}'):
        for signature in ("", "AA", "!!!!", b64(b"\x00" * 64), b64(b"\x00" * 70)):
            await refused(tokens, f"{header}.{b64(payload)}.{signature}")


async def test_any_altered_character_is_refused_or_harmless(
    tokens: AccessTokens, key: SigningKey
) -> None:
    """Flip each character of a valid token: refused, or (the unused low bits of the last
    base64url character) the very same claims."""
    token = sign(key, claims(queues=["q"]))
    original = await tokens.verify(token)
    for position in range(len(token)):
        for replacement in ("A", "_", "."):
            if token[position] == replacement:
                continue
            altered = token[:position] + replacement + token[position + 1 :]
            try:
                found = await tokens.verify(altered)
            except InvalidToken:
                continue
            assert found == original, f"position {position} changed the claims"


@hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "typ", "kid", "crit", "jku", "x5u", "b64"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.text(max_size=50),
            st.lists(st.text(max_size=5)),
        ),
    ),
    payload=st.binary(max_size=200),
    signature=st.binary(max_size=80),
    text=st.text(max_size=300),
)
async def test_fuzzed_tokens_are_only_ever_invalid(
    header: dict[str, Any], payload: bytes, signature: bytes, text: str
) -> None:
    key = make_key()
    tokens = AccessTokens(None, MemoryRedis(), SETTINGS, keys=StaticKeys(key))  # type: ignore[arg-type]
    header_with_kid = {**header, "kid": header.get("kid", key.kid)}
    candidates = [
        text,
        f"{b64(json.dumps(header_with_kid).encode())}.{b64(payload)}.{b64(signature)}",
        f"{b64(json.dumps({'alg': 'ES256', 'typ': 'at+jwt', 'kid': key.kid}).encode())}"
        f".{b64(payload)}.{b64(signature)}",
    ]
    for candidate in candidates:
        with pytest.raises(InvalidToken):
            await tokens.verify(candidate)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from([str(uuid.uuid4()), "admin", "staff", SETTINGS.public_url, "vq-api"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.dictionaries(st.sampled_from([*claims(), "queues", "nbf"]), JSON_VALUES))
async def test_fuzzed_claims_signed_by_us_are_valid_or_invalid_never_an_error(
    changes: dict[str, Any],
) -> None:
    """Even a token our own key signed is checked claim by claim: whatever the claims hold,
    the answer is AccessClaims or InvalidToken."""
    key = make_key()
    tokens = AccessTokens(None, MemoryRedis(), SETTINGS, keys=StaticKeys(key))  # type: ignore[arg-type]
    # Signed as raw JWS: pyjwt's own encode refuses some of these claims (a non-string iss).
    token = jwt.PyJWS().encode(
        json.dumps(claims(**changes)).encode(),
        key.private_key,
        algorithm="ES256",
        headers={"kid": key.kid, "typ": "at+jwt"},
    )
    try:
        found = await tokens.verify(token)
    except InvalidToken:
        return
    assert found.role in {"admin", "manager", "staff", "kiosk", "display", "viewer"}
    assert isinstance(found.mfa, bool) and isinstance(found.expires_at, float)


# The deny-list.


async def test_a_denied_session_is_refused_and_others_are_not(
    tokens: AccessTokens, key: SigningKey, redis: MemoryRedis
) -> None:
    mine, other = sign(key, claims()), sign(key, claims())
    session = jwt.decode(mine, options={"verify_signature": False})["sid"]
    await tokens.deny_session(session)
    await refused(tokens, mine, "signed out")
    assert (await tokens.verify(other)).session_id != session
    _value, ttl = redis.values[f"unit:access:deny:{session}"]
    assert ttl == SETTINGS.access_token_ttl_s + LEEWAY_S
    # Every API process hears of it, to end the live streams the session opened.
    assert redis.published == [("unit:live:revoked", json.dumps({"session_id": session}))]


async def test_redis_down_is_unavailable_never_a_pass(key: SigningKey) -> None:
    tokens = AccessTokens(None, DeadRedis(), SETTINGS, keys=StaticKeys(key))  # type: ignore[arg-type]
    with pytest.raises(DenyListUnavailable) as caught:
        await tokens.verify(sign(key, claims()))
    assert isinstance(caught.value, Unavailable)
    assert "127.0.0.1" not in caught.value.detail()  # hosts go to the log, not to callers
    with pytest.raises(DenyListUnavailable):
        await tokens.deny_session(str(uuid.uuid4()))
    # A token refused on its own merits is refused without asking Redis.
    await refused(tokens, "garbage")


# Key schedule (pure parts of the ring).


def test_the_newest_active_key_signs_and_retired_keys_verify_for_a_while() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    old = SigningKey.of(new_private_key(), created_at=t0, retired_at=t0 + timedelta(hours=2))
    new = SigningKey.of(
        new_private_key(),
        created_at=t0 + timedelta(hours=2) - timedelta(seconds=45),
        active_from=t0 + timedelta(hours=2),
    )
    keys = [old, new]
    before = t0 + timedelta(hours=1)
    assert current_key(keys, before) is old
    assert new.state(before, SETTINGS) == "next"
    after = t0 + timedelta(hours=2, seconds=1)
    assert current_key(keys, after) is new
    assert old.state(after, SETTINGS) == "retired"
    assert old.verifies_at(after, SETTINGS)
    window = timedelta(seconds=verifies_for_s(SETTINGS))
    assert window > timedelta(seconds=SETTINGS.access_token_ttl_s + LEEWAY_S)
    gone = t0 + timedelta(hours=2) + window + timedelta(seconds=1)
    assert not old.verifies_at(gone, SETTINGS) and old.state(gone, SETTINGS) == "expired"
    assert current_key([], before) is None


async def test_rotation_signs_with_the_new_kid_and_keeps_the_old_valid(
    tokens: AccessTokens, key: SigningKey
) -> None:
    before, _ = await tokens.issue(
        tenant_id=str(uuid.uuid4()),
        user_id=str(uuid.uuid4()),
        role="staff",
        session_id=str(uuid.uuid4()),
        mfa=False,
        queues=None,
    )
    kid = await tokens.rotate(ahead_s=0)
    after, _ = await tokens.issue(
        tenant_id=str(uuid.uuid4()),
        user_id=str(uuid.uuid4()),
        role="staff",
        session_id=str(uuid.uuid4()),
        mfa=False,
        queues=None,
    )
    assert jwt.get_unverified_header(after)["kid"] == kid != key.kid
    assert (await tokens.verify(before)).role == (await tokens.verify(after)).role
    assert {k["kid"] for k in (await tokens.jwks())["keys"]} == {key.kid, kid}
