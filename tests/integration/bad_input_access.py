"""The access routes' share of test_bad_input.py (people, sessions, two-factor authentication,
keys, the organisation's settings, single sign-on, the audit trail): the valid requests its
table starts from, the people and keys they act on (in tenant A, and tenant B's own for the
other-tenant cases), the cases only they have, and the tables a refused request must leave as
they were. And for its fuzz test: the people whose credentials it fuzzes the person-only routes
with, and in which order the operations that sign a caller out run.

No import of test_bad_input (it imports this): a case here is a `Spec`, which it turns into its
`Case` with the same `case()` every other case is made with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import psycopg
import pyotp

from access import links
from access.passwords import HASHER
from access.sso_store import SsoChange, put_sso
from access.users import insert_user
from core.settings import Settings
from eventstore.pool import connect_kwargs, open_pool
from tests.integration.bad_input_notifications import Spec, spec

# -- valid requests -----------------------------------------------------------------------------

PASSWORD = "a long passphrase nobody else uses"
SIGNUP = {
    "organisation": "Riverside Surgery",
    "name": "Grace Hopper",
    "email": "grace@riverside.example",
    "password": PASSWORD,
}
INVITE = {"email": "new.nurse@clinic.example", "name": "New Nurse", "role": "staff"}
STAFF_EMAIL = "nurse@clinic.example"  # the invited person the `user_id` routes act on
USER_PATCH = {"name": "Renamed Nurse"}
ME_PATCH = {"name": "Ada L."}
PASSWORD_CHANGE = {"current_password": PASSWORD, "new_password": "another long passphrase"}
CODE = {"code": "123456"}
ACCESS_SETTINGS: dict[str, Any] = {
    "mfa_roles": ["admin"],
    "rate_limit_per_minute": 5000,
    "cors_origins": ["https://clinic.example"],
}
SSO = {
    "issuer": "https://login.example.com/realms/clinic",
    "client_id": "vq",
    "client_secret": "a client secret",
    "role_map": {"front-desk": "staff"},
}
ROTATE = {"overlap_s": 60}
USER = {"user_id": "staff_user"}
KEY = {"key_id": "spare_key"}
# A link or refresh token that was never issued (the shape of a real one).
NEVER_ISSUED = "q" * 43


def login(tenant: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """A sign-in body; `tenant` is a world name (`@tenant`) or an id."""
    return {"tenant_id": tenant, "email": email, "password": password}


# -- people -------------------------------------------------------------------------------------


async def insert_person(
    settings: Settings,
    tenant_id: str,
    email: str,
    *,
    role: str = "admin",
    password: str | None = PASSWORD,
    verified: bool = True,
) -> str:
    """A person of the organisation (with a password: one who can sign in); their id."""
    hashed = None if password is None else HASHER.hash(password)
    async with await _connect(settings) as conn:
        made = await insert_user(
            conn,
            tenant_id=tenant_id,
            email=email,
            name=email.partition("@")[0],
            role=role,
            password_hash=hashed,
            verified=verified,
        )
    return made.user_id


class Caller(Protocol):
    ids: dict[str, str]
    keys: dict[str, str]

    async def call(self, method: str, path: str, key: str = "admin", **kwargs: Any) -> Any: ...


async def _signed_in(w: Caller, tenant: str, email: str) -> dict[str, Any]:
    made: dict[str, Any] = await w.call(
        "POST", "/v1/auth/login", "no-key", json=login(w.ids[tenant], email)
    )
    return made


async def _person(w: Caller, settings: Settings, key: str, email: str, **kwargs: Any) -> str:
    """A person of tenant A, signed in: their access token is the world's key `key`."""
    user_id = await insert_person(settings, w.ids["tenant_a"], email, **kwargs)
    signed_in = await _signed_in(w, "tenant_a", email)
    w.keys[key] = signed_in["access_token"]
    if key == "person":
        w.ids["refresh_token"] = signed_in["refresh_token"]
    return user_id


async def build(w: Caller, settings: Settings) -> None:
    """Tenant A's people, each signed in (an access token as the world's key of that name):
    `person` (an admin), `leaving` (a session to sign out), `signed_out` (one that has),
    `newcomer` (an unverified email), `enrolling` (an authenticator app to confirm),
    `mfa_person` (a confirmed one); `staff_user` (invited, no password yet) and `gone_user`
    (deactivated); a link of each kind; single sign-on set up. Tenant B's `b_user`, its only
    admin person. Keys: `scoped` (an admin key limited to managing keys)."""
    w.ids["person_user"] = await _person(w, settings, "person", "ada@clinic.example")
    await _person(w, settings, "leaving", "leaving@clinic.example", role="viewer")
    await _person(w, settings, "signed_out", "left@clinic.example", role="viewer")
    await w.call("POST", "/v1/auth/logout", "signed_out")
    newcomer = await _person(w, settings, "newcomer", "new@clinic.example", verified=False)
    await _person(w, settings, "enrolling", "enrolling@clinic.example")
    await w.call("POST", "/v1/me/mfa/totp", "enrolling")
    await _person(w, settings, "mfa_person", "otp@clinic.example")
    enrolment = await w.call("POST", "/v1/me/mfa/totp", "mfa_person")
    code = pyotp.TOTP(enrolment["secret"]).now()
    await w.call("POST", "/v1/me/mfa/totp/confirm", "mfa_person", json={"code": code})

    # Invited (as `POST /v1/users` does, without its email: the world has no delivery topics).
    for name, email in (("staff_user", STAFF_EMAIL), ("gone_user", "gone@clinic.example")):
        w.ids[name] = await insert_person(
            settings, w.ids["tenant_a"], email, role="staff", password=None, verified=False
        )
    await w.call("PATCH", f"/v1/users/{w.ids['gone_user']}", json={"active": False})
    w.ids["b_user"] = await insert_person(settings, w.ids["tenant_b"], "bea@bank.example")
    w.ids["oversized_id"] = "i" * 65

    async with await _connect(settings) as conn:
        now = datetime.now(UTC)
        tenant_a = w.ids["tenant_a"]
        invite = await links.issue(conn, tenant_a, w.ids["staff_user"], "invite", now)
        verify = await links.issue(conn, tenant_a, newcomer, "verify-email", now)
    w.ids["invite_token"], w.ids["verify_token"] = invite.token, verify.token
    await _set_up_sso(settings, tenant_a)

    scoped = {"name": "key manager", "role": "admin", "scopes": ["keys:manage"]}
    w.keys["scoped"] = (await w.call("POST", "/v1/keys", json=scoped))["secret"]


async def _connect(settings: Settings) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(
        settings.pg_url, **connect_kwargs(settings.db_schema)
    )


async def _set_up_sso(settings: Settings, tenant_id: str) -> None:
    """Single sign-on set up as an admin would have (the provider's discovery is not asked: its
    deletion is all the table needs of it)."""
    pool = await open_pool(settings, min_size=1, max_size=1)
    try:
        change = SsoChange(
            issuer=str(SSO["issuer"]), client_id=str(SSO["client_id"]), client_secret="secret"
        )
        await put_sso(
            pool, settings.secret_key, tenant_id, change, actor="test", at=datetime.now(UTC)
        )
    finally:
        await pool.close()


# Path parameter -> tenant B's own (for the other-tenant cases).
OTHER_TENANTS = {"user_id": "b_user"}

# What a refused request must not have touched: every access table, row by row (an update counts
# too: an ended session, a used link, a rotated key). A key's use (its last-used time and count,
# written in batches) is not a change a request makes to it.
TABLES = (
    "users",
    "user_links",
    "sessions",
    "refresh_tokens",
    "mfa_totp",
    "mfa_recovery_codes",
    "sso_settings",
    "org_settings",
    "signing_keys",
    "tenants",
    "audit_log",
)
_KEY_COLUMNS = (
    "key_id, tenant_id, name, role, key_hash, revoked_at, scopes, expires_at, previous_hash, "
    "previous_until, rotated_at"
)
MEASURES = {
    **{
        f"access_{table}": "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
        f" FROM {{}}.{table} t"
        for table in TABLES
    },
    "access_api_keys": "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
    f" FROM (SELECT {_KEY_COLUMNS} FROM {{}}.api_keys) t",
}

# -- the fuzz test's credentials ------------------------------------------------------------------

LOGOUT = "/v1/auth/logout"


def fuzz_credential(path: str) -> str:
    """Whose credentials an operation is fuzzed with: the operator's for /v1/tenants, a person's
    for their own routes (a session of its own for signing out), the tenant's admin key else."""
    if path == "/v1/tenants":
        return "operator"
    if path == LOGOUT:
        return "leaving"
    if path == "/v1/me" or path.startswith("/v1/me/"):
        return "person"
    return "admin"


def fuzz_phase(method: str, path: str) -> int:
    """When an operation is fuzzed: first whatever leaves every credential and known id as it
    was; then deletions (a webhook endpoint's test ping, a template's preview, a person or a key
    must find them first); then signing out (the leaving session's first call ends it); last the
    organisation's access settings (a rate limit of 60 a minute would throttle what follows)."""
    if (method.upper(), path) == ("PUT", "/v1/settings/access"):
        return 3
    if path == LOGOUT:
        return 2
    return 1 if method.upper() == "DELETE" else 0


Call = Callable[..., Any]


def fuzz_people(call: Call, settings: Settings, tenant_id: str, admin: str) -> dict[str, Any]:
    """In the fuzzed tenant: an admin person signed in (an unverified email, so asking for a
    verification link does something), a second session of theirs to sign out, and an invited
    person for the `user_id` routes (removing, deactivating or demoting the signed-in person would
    end the run's sessions). Credentials and known ids."""
    email = "fuzz.admin@clinic.example"
    asyncio.run(insert_person(settings, tenant_id, email, verified=False))
    credentials = {
        name: call("POST", "/v1/auth/login", None, login(tenant_id, email))["access_token"]
        for name in ("person", "leaving")
    }
    invited = call("POST", "/v1/users", admin, {**INVITE, "email": "fuzz.staff@clinic.example"})
    return {
        "credentials": credentials,
        "ids": {"user_id": invited["user_id"], "tenant_id": tenant_id},
    }


# -- the cases ----------------------------------------------------------------------------------


RULE = "rule-violated"
V = "validation"


@dataclass(frozen=True)
class RouteSpec:
    """The arguments of test_bad_input's `Route` (its name, method, path, the ids and body of a
    request that would succeed, a key role that may not; `options`: its other fields)."""

    name: str
    method: str
    path: str
    ids: dict[str, str]
    body: Any
    denied_role: str | None
    options: dict[str, Any] = field(default_factory=dict)


def route(
    name: str,
    method: str,
    path: str,
    ids: dict[str, str],
    body: Any,
    denied_role: str | None,
    **options: Any,
) -> RouteSpec:
    """An access route: no Idempotency-Key; a body read only where it takes one."""
    has_body = body is not None
    return RouteSpec(
        name,
        method,
        path,
        ids,
        body,
        denied_role,
        {"reads_body": has_body, "body_schema": has_body, "command_headers": False, **options},
    )


def _public(name: str, method: str, path: str, body: Any, **options: Any) -> RouteSpec:
    """A route anyone may call (sign-up, sign-in and the links of its emails): no key at all."""
    return route(name, method, path, {}, body, None, public=True, **options)


def _own(name: str, method: str, path: str, body: Any, owner: str = "person") -> RouteSpec:
    """A route of a person's own session: an API key, even the admin's, is a 403."""
    return route(name, method, path, {}, body, "admin", owner=owner)


def _read(name: str, path: str, ids: dict[str, str], **options: Any) -> RouteSpec:
    """A read: its input is its path and query."""
    return route(name, "GET", path, ids, None, options.pop("denied_role", "staff"), **options)


_USER = "/v1/users/{user_id}"
_KEY = "/v1/keys/{key_id}"
_SSO_START = "/v1/auth/sso/{tenant_id}/start"
ROUTES: list[RouteSpec] = [
    _public("signup", "POST", "/v1/signup", SIGNUP),
    _public("login", "POST", "/v1/auth/login", login("@tenant_a", "ada@clinic.example")),
    _public("refresh", "POST", "/v1/auth/refresh", {"refresh_token": "@refresh_token"}),
    _public("verify-email", "POST", "/v1/auth/verify-email", {"token": "@verify_token"}),
    _public(
        "password-reset",
        "POST",
        "/v1/auth/password-reset",
        {"tenant_id": "@tenant_a", "email": "ada@clinic.example"},
    ),
    _public(
        "set-password",
        "POST",
        "/v1/auth/password",
        {"token": "@invite_token", "password": PASSWORD},
    ),
    _own("logout", "POST", "/v1/auth/logout", None, owner="leaving"),
    route("invite", "POST", "/v1/users", {}, INVITE, "staff"),
    route("reinvite", "POST", f"{_USER}/invite", USER, None, "staff"),
    route("update-user", "PATCH", _USER, USER, USER_PATCH, "staff"),
    route("remove-user", "DELETE", _USER, USER, None, "staff"),
    _own("update-me", "PATCH", "/v1/me", ME_PATCH),
    _own("change-password", "POST", "/v1/me/password", PASSWORD_CHANGE),
    _own("resend-verification", "POST", "/v1/me/verify-email", None, owner="newcomer"),
    _own("start-totp", "POST", "/v1/me/mfa/totp", None),
    _own("confirm-totp", "POST", "/v1/me/mfa/totp/confirm", CODE, owner="enrolling"),
    _own("remove-totp", "DELETE", "/v1/me/mfa/totp", CODE, owner="mfa_person"),
    _own("renew-recovery-codes", "POST", "/v1/me/mfa/recovery-codes", CODE, owner="mfa_person"),
    route("rotate-key", "POST", f"{_KEY}/rotate", KEY, ROTATE, "staff"),
    route("access-settings", "PUT", "/v1/settings/access", {}, ACCESS_SETTINGS, "staff"),
    route("sso-settings", "PUT", "/v1/settings/sso", {}, SSO, "staff"),
    route("delete-sso-settings", "DELETE", "/v1/settings/sso", {}, None, "staff"),
    # reads that take input
    _read("audit", "/v1/audit", {}, denied_role="viewer"),
    _read("list-users", "/v1/users", {}),
    _read("get-user", _USER, USER),
    _read("get-key", _KEY, KEY),
    _read("sso-start", _SSO_START, {"tenant_id": "tenant_a"}, denied_role=None, public=True),
    _read("sso-callback", "/v1/auth/sso/callback", {}, denied_role=None, public=True),
]


def _without(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != name}


def _missing(route_name: str, body: dict[str, Any]) -> list[Spec]:
    """Each required field left out: a 422."""
    return [spec(route_name, f"missing-{n}", 422, V, json=_without(body, n)) for n in body]


def _bad_fields(route_name: str, body: dict[str, Any], bad: dict[str, Any]) -> list[Spec]:
    """The valid body with one field wrong (name -> {field: value}): a 422 each."""
    return [spec(route_name, name, 422, V, json={**body, **wrong}) for name, wrong in bad.items()]


LONG_EMAIL = "e" * 250 + "@x.io"
BAD_EMAILS = {
    "email-invalid": {"email": "not-an-address"},
    "email-with-a-display-name": {"email": "Ada <ada@clinic.example>"},
    "email-without-a-dot-in-its-domain": {"email": "ada@localhost"},
    "email-with-a-space-before": {"email": " ada@clinic.example"},
    "email-oversized": {"email": LONG_EMAIL},
    "email-wrong-type": {"email": ["ada@clinic.example"]},
}
BAD_NAMES = {
    "name-blank": {"name": "   "},
    "name-empty": {"name": ""},
    "name-on-two-lines": {"name": "Ada\nLovelace"},
    "name-oversized": {"name": "n" * 201},
    "name-wrong-type": {"name": 42},
    "name-with-nul": {"name": "Ada\x00"},
}


def _sign_up_and_in() -> list[Spec]:
    s, li = "signup", "login"
    weak = {  # well-shaped, refused by the password policy (which only the server knows)
        "password-common": "password1234",
        "password-common-in-capitals": "PASSWORD1234",
        "password-is-the-email": "Grace@Riverside.example",
        "password-one-character": "aaaaaaaaaaaaaaaa",
        "password-two-characters": "abababababab",
    }
    return [
        *_missing(s, SIGNUP),
        *_bad_fields(s, SIGNUP, BAD_EMAILS),
        *_bad_fields(s, SIGNUP, BAD_NAMES),
        *_bad_fields(
            s,
            SIGNUP,
            {
                "organisation-blank": {"organisation": " "},
                "organisation-oversized": {"organisation": "o" * 201},
                "password-too-short": {"password": "eleven char"},
                "password-oversized": {"password": "p" * 129},
                "password-wrong-type": {"password": 123456789012345},
                "language-unknown": {"language": "xx"},
            },
        ),
        *(spec(s, name, 409, RULE, json={**SIGNUP, "password": p}) for name, p in weak.items()),
        *_missing(li, login("@tenant_a", "ada@clinic.example")),
        *_bad_fields(
            li,
            login("@tenant_a", "ada@clinic.example"),
            {
                **BAD_EMAILS,
                "tenant-id-not-a-uuid": {"tenant_id": "clinic"},
                "tenant-id-wrong-type": {"tenant_id": 7},
                "password-empty": {"password": ""},
                "password-oversized": {"password": "p" * 1025},
                "otp-too-short": {"otp": "12345"},
                "otp-oversized": {"otp": "1" * 21},
                "otp-wrong-type": {"otp": 123456},
            },
        ),
        # Refused the same way whatever is wrong; neither is written anywhere (no such
        # organisation to audit; a missing second factor is not a failed attempt).
        spec(
            li,
            "unknown-organisation",
            401,
            "invalid-credentials",
            json=login("@unknown", "ada@clinic.example"),
        ),
        spec(
            li,
            "second-factor-missing",
            401,
            "mfa-required",
            json=login("@tenant_a", "otp@clinic.example"),
        ),
    ]


def _links() -> list[Spec]:
    r, v, reset, sp = "refresh", "verify-email", "password-reset", "set-password"
    tokens = {
        "token-empty": "",
        "token-oversized": "t" * 201,
        "token-wrong-type": 12345,
    }
    return [
        spec(r, "missing-refresh-token", 422, V, json={}),
        *(spec(r, name, 422, V, json={"refresh_token": t}) for name, t in tokens.items()),
        spec(r, "never-issued", 401, "unauthorized", json={"refresh_token": NEVER_ISSUED}),
        spec(r, "an-access-token", 401, "unauthorized", json={"refresh_token": "x.y.z"}),
        spec(v, "missing-token", 422, V, json={}),
        *(spec(v, name, 422, V, json={"token": t}) for name, t in tokens.items()),
        spec(v, "never-issued", 404, "link-expired", json={"token": NEVER_ISSUED}),
        spec(v, "an-invitation", 404, "link-expired", json={"token": "@invite_token"}),
        *_missing(reset, {"tenant_id": "@tenant_a", "email": "ada@clinic.example"}),
        *_bad_fields(
            reset,
            {"tenant_id": "@tenant_a", "email": "ada@clinic.example"},
            {**BAD_EMAILS, "tenant-id-not-a-uuid": {"tenant_id": "clinic"}},
        ),
        *_missing(sp, {"token": "@invite_token", "password": PASSWORD}),
        *_bad_fields(
            sp,
            {"token": "@invite_token", "password": PASSWORD},
            {
                **{name: {"token": t} for name, t in tokens.items()},
                "password-too-short": {"password": "short"},
                "password-oversized": {"password": "p" * 129},
                "password-wrong-type": {"password": None},
            },
        ),
        spec(
            sp,
            "never-issued",
            404,
            "link-expired",
            json={"token": NEVER_ISSUED, "password": PASSWORD},
        ),
        spec(
            sp,
            "a-verification-link",
            404,
            "link-expired",
            json={"token": "@verify_token", "password": PASSWORD},
        ),
        # The policy is checked before the link is used: a refused password leaves it usable.
        *(
            spec(sp, name, 409, RULE, json={"token": "@invite_token", "password": p})
            for name, p in (
                ("password-common", "qwerty123456"),
                ("password-is-the-email", STAFF_EMAIL),
            )
        ),
    ]


def _people() -> list[Spec]:
    i, u, d = "invite", "update-user", "remove-user"
    roles = {"role-unknown": {"role": "root"}, "role-of-a-device": {"role": "kiosk"}}
    queues = {
        "queues-not-a-list": {"queues": "@main"},
        "queue-id-not-a-uuid": {"queues": ["main"]},
        "queues-twice-the-same": {"queues": ["@main", "@main"]},
        "queues-too-many": {"queues": ["@main"] * 201},
    }
    elsewhere = {
        "queue-of-another-tenant": {"queues": ["@b_queue"]},
        "queue-unknown": {"queues": ["@unknown"]},
    }
    return [
        *_missing(i, INVITE),
        *_bad_fields(i, INVITE, {**BAD_EMAILS, **BAD_NAMES, **roles, **queues}),
        spec(i, "language-unknown", 422, V, json={**INVITE, "language": "klingon"}),
        *(spec(i, n, 404, "not-found", json={**INVITE, **q}) for n, q in elsewhere.items()),
        spec(
            i, "email-taken", 409, "already-exists", json={**INVITE, "email": "ada@clinic.example"}
        ),
        spec(
            i,
            "email-taken-in-other-case",
            409,
            "already-exists",
            json={**INVITE, "email": "Ada@Clinic.Example"},
        ),
        spec("reinvite", "has-a-password", 409, RULE, ids={"user_id": "person_user"}),
        spec("reinvite", "deactivated", 409, RULE, ids={"user_id": "gone_user"}),
        *_bad_fields(u, {}, {**BAD_NAMES, **roles, **queues}),
        *(spec(u, n, 404, "not-found", json=q) for n, q in elsewhere.items()),
        spec(u, "active-not-a-bool", 422, V, json={"active": "no"}),
        spec(u, "active-as-a-number", 422, V, json={"active": 0}),
        spec(u, "email-not-changeable", 422, V, json={"email": "x@clinic.example"}),
        # Tenant B's only admin (signed in by its admin key): the organisation keeps one.
        *(
            spec(u, f"last-admin-{name}", 409, RULE, ids=OTHER_TENANTS, key="other", json=body)
            for name, body in (("demoted", {"role": "manager"}), ("deactivated", {"active": False}))
        ),
        # Removal: the generic cases refuse an unknown id, another tenant's person and another
        # tenant's key (404); tenant B's only admin stays; an id of another kind is nobody.
        spec(d, "last-admin", 409, RULE, ids=OTHER_TENANTS, key="other"),
        spec(d, "an-organisations-id", 404, "not-found", ids={"user_id": "tenant_a"}),
    ]


def _own_session() -> list[Spec]:
    me, pw = "update-me", "change-password"
    signed_out = [
        spec(r.name, "signed-out-session", 401, "unauthorized", key="signed_out")
        for r in ROUTES
        if r.options.get("owner") in ("person", "leaving", "newcomer", "enrolling", "mfa_person")
    ]
    codes = {
        "missing-code": {},
        "code-too-short": {"code": "12345"},
        "code-oversized": {"code": "1" * 21},
        "code-wrong-type": {"code": 123456},
        "code-null": {"code": None},
    }
    return [
        *signed_out,
        *_bad_fields(me, {}, BAD_NAMES),
        spec(me, "language-unknown", 422, V, json={"language": "xx"}),
        spec(me, "email-not-changeable", 422, V, json={"email": "x@clinic.example"}),
        spec(me, "role-not-changeable", 422, V, json={"role": "admin"}),
        *_missing(pw, PASSWORD_CHANGE),
        *_bad_fields(
            pw,
            PASSWORD_CHANGE,
            {
                "current-password-empty": {"current_password": ""},
                "new-password-too-short": {"new_password": "short"},
                "new-password-oversized": {"new_password": "p" * 129},
                "new-password-wrong-type": {"new_password": ["x" * 12]},
            },
        ),
        # The current password is right; the new one is refused by the policy.
        spec(
            pw,
            "new-password-common",
            409,
            RULE,
            json={**PASSWORD_CHANGE, "new_password": "password1234"},
        ),
        spec(
            pw,
            "new-password-is-the-email",
            409,
            RULE,
            json={**PASSWORD_CHANGE, "new_password": "ada@clinic.example"},
        ),
        spec("resend-verification", "verified-already", 409, RULE, key="person"),
        spec("start-totp", "enrolled-already", 409, "already-exists", key="mfa_person"),
        *(
            spec(name, bad, 422, V, json=body)
            for name in ("confirm-totp", "remove-totp", "renew-recovery-codes")
            for bad, body in codes.items()
        ),
        # A code that cannot be one (not six digits): refused without counting against anyone.
        spec("confirm-totp", "wrong-code", 409, "wrong-code", json={"code": "abcdefg"}),
        spec("confirm-totp", "nothing-pending", 404, "not-found", key="person"),
        spec("confirm-totp", "enrolled-already", 409, "already-exists", key="mfa_person"),
        spec("remove-totp", "not-enrolled", 404, "not-found", key="person"),
        spec("renew-recovery-codes", "not-enrolled", 404, "not-found", key="person"),
    ]


def _keys_and_settings() -> list[Spec]:
    k, a = "rotate-key", "access-settings"
    week = 7 * 24 * 3600
    origins = {
        "origin-with-a-path": "https://clinic.example/app",
        "origin-with-a-wildcard": "https://*.clinic.example",
        "origin-ftp": "ftp://clinic.example",
        "origin-with-a-user": "https://ada@clinic.example",
        "origin-with-a-query": "https://clinic.example?x=1",
        "origin-without-a-scheme": "clinic.example",
        "origin-null": "null",
    }
    # Well-shaped, refused by the rules the document cannot say (labels, port range, how many).
    refused_origins = {
        "origin-port-out-of-range": ["https://clinic.example:99999"],
        "origin-port-0": ["https://clinic.example:0"],
        "origin-empty-label": ["https://clinic..example"],
        "origin-label-starts-with-a-dash": ["https://-clinic.example"],
    }
    return [
        *_bad_fields(
            k,
            ROTATE,
            {
                "overlap-negative": {"overlap_s": -1},
                "overlap-over-a-week": {"overlap_s": week + 1},
                "overlap-as-text": {"overlap_s": "60"},
                "overlap-as-a-bool": {"overlap_s": True},
                "overlap-fractional": {"overlap_s": 1.5},
            },
        ),
        spec(k, "revoked", 404, "not-found", ids={"key_id": "revoked_key"}),
        # A key limited to managing keys may not rotate one that can do more.
        spec(k, "beyond-the-callers-scopes", 403, "forbidden", key="scoped"),
        *_missing(a, ACCESS_SETTINGS),
        *_bad_fields(
            a,
            ACCESS_SETTINGS,
            {
                "mfa-role-of-a-device": {"mfa_roles": ["kiosk"]},
                "mfa-role-unknown": {"mfa_roles": ["root"]},
                "mfa-roles-not-a-list": {"mfa_roles": "admin"},
                "mfa-roles-too-many": {
                    "mfa_roles": ["admin", "manager", "staff", "viewer", "admin"]
                },
                "rate-limit-under-60": {"rate_limit_per_minute": 59},
                "rate-limit-over-100000": {"rate_limit_per_minute": 100_001},
                "rate-limit-as-text": {"rate_limit_per_minute": "5000"},
                "rate-limit-as-a-bool": {"rate_limit_per_minute": True},
                "rate-limit-fractional": {"rate_limit_per_minute": 60.5},
                "origins-not-a-list": {"cors_origins": "https://clinic.example"},
                "origins-too-many": {
                    "cors_origins": [f"https://{i}.clinic.example" for i in range(51)]
                },
                "origin-oversized": {"cors_origins": ["https://" + "o" * 290 + ".example"]},
                **{name: {"cors_origins": [o]} for name, o in origins.items()},
            },
        ),
        *(
            spec(a, name, 409, RULE, json={**ACCESS_SETTINGS, "cors_origins": o})
            for name, o in refused_origins.items()
        ),
    ]


def _sso() -> list[Spec]:
    s = "sso-settings"
    issuers = {
        "issuer-not-a-url": "login.example.com",
        "issuer-ftp": "ftp://login.example.com/",
        "issuer-with-a-query": "https://login.example.com/?realm=x",
        "issuer-with-a-fragment": "https://login.example.com/#x",
        "issuer-with-a-user": "https://ada@login.example.com/",
        "issuer-with-a-space": "https://login.example.com/realms/my clinic",
        "issuer-too-short": "https:/",
        "issuer-oversized": "https://login.example.com/" + "r" * 480,
    }
    # Well-shaped, refused by the server's rules: no request leaves for them.
    refused_issuers = {
        "issuer-plain-http-on-a-public-host": "http://login.example.com/realms/clinic",
        "issuer-on-loopback": "https://127.0.0.1:8443/realms/clinic",
        "issuer-on-a-private-network": "https://10.0.0.1/realms/clinic",
        "issuer-on-link-local-metadata": "https://169.254.169.254/latest",
        "issuer-not-a-host": "https://[::1/realms/clinic",
    }
    return [
        *(spec(s, f"missing-{n}", 422, V, json=_without(SSO, n)) for n in ("issuer", "client_id")),
        *_bad_fields(
            s,
            SSO,
            {
                **{name: {"issuer": issuer} for name, issuer in issuers.items()},
                "client-id-empty": {"client_id": ""},
                "client-id-oversized": {"client_id": "c" * 256},
                "client-id-with-nul": {"client_id": "vq\x00"},
                "client-secret-empty": {"client_secret": ""},
                "scope-with-a-space": {"scopes": ["read write"]},
                "scopes-too-many": {"scopes": [f"s{i}" for i in range(21)]},
                "role-claim-empty": {"role_claim": ""},
                "role-map-to-an-unknown-role": {"role_map": {"front-desk": "root"}},
                "role-map-to-a-device": {"role_map": {"front-desk": "kiosk"}},
                "role-map-value-with-nul": {"role_map": {"front\x00desk": "staff"}},
                "default-role-of-a-device": {"default_role": "display"},
                "email-domain-invalid": {"email_domains": ["not a domain"]},
                "email-domain-is-an-address": {"email_domains": ["ada@clinic.example"]},
                "enabled-as-text": {"enabled": "yes"},
                "enabled-as-a-number": {"enabled": 1},
            },
        ),
        *(
            spec(s, name, 409, RULE, json={**SSO, "issuer": issuer})
            for name, issuer in refused_issuers.items()
        ),
        spec("delete-sso-settings", "not-set-up", 404, "not-found", key="other"),
    ]


def _reads() -> list[Spec]:
    au, lu, st, cb = "audit", "list-users", "sso-start", "sso-callback"
    bad_audit = {
        "order-unknown": {"order": "sideways"},
        "limit-zero": {"limit": "0"},
        "limit-over-1000": {"limit": "1001"},
        "limit-not-a-number": {"limit": "ten"},
        "after-negative": {"after": "-1"},
        "after-beyond-the-last-sequence-number": {"after": str(2**63)},
        "before-not-a-number": {"before": "seq-9"},
        "since-not-a-moment": {"since": "yesterday"},
        "since-without-an-offset": {"since": "2026-01-01T00:00:00"},
        "until-month-13": {"until": "2026-13-01T00:00:00Z"},
        "format-unknown": {"format": "xml"},
        "action-oversized": {"action": "a" * 201},
        "action-with-nul": {"action": "key.\x00"},
        "actor-oversized": {"actor": "a" * 201},
        "subject-with-nul": {"subject": "\x00"},
    }
    bad_listing = {
        "after-not-a-uuid": {"after": "ada"},
        "limit-zero": {"limit": "0"},
        "limit-over-200": {"limit": "201"},
        "limit-not-a-number": {"limit": "all"},
    }
    bad_callback = {
        "code-oversized": {"code": "c" * 2049, "state": "s"},
        "state-oversized": {"code": "c", "state": "s" * 513},
        "error-oversized": {"error": "e" * 201},
        "iss-oversized": {"iss": "https://" + "i" * 500},
    }
    unknown_sign_in = {
        "no-state": {"code": "c"},
        "no-code": {"state": "s"},
        "state-never-issued": {"code": "c", "state": NEVER_ISSUED},
        "provider-error-without-a-sign-in": {"error": "access_denied"},
    }
    return [
        *(spec(au, name, 422, V, query=q) for name, q in bad_audit.items()),
        *(spec(lu, name, 422, V, query=q) for name, q in bad_listing.items()),
        spec(st, "unknown-organisation", 404, "not-found", ids={"tenant_id": "unknown"}),
        spec(st, "organisation-without-sso", 404, "not-found", ids={"tenant_id": "tenant_b"}),
        # The organisation's id is text here (a link people follow): not an id is nobody's.
        spec(st, "not-an-organisation-id", 404, "not-found", ids={"tenant_id": "not-a-uuid"}),
        spec(st, "organisation-id-oversized", 422, V, ids={"tenant_id": "oversized_id"}),
        spec(st, "login-hint-oversized", 422, V, query={"login_hint": "h" * 255}),
        *(spec(cb, name, 422, V, query=q) for name, q in bad_callback.items()),
        *(spec(cb, name, 401, "sso-failed", query=q) for name, q in unknown_sign_in.items()),
    ]


SPECIFIC: list[Spec] = [
    *_sign_up_and_in(),
    *_links(),
    *_people(),
    *_own_session(),
    *_keys_and_settings(),
    *_sso(),
    *_reads(),
]
