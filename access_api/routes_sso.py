"""Single sign-on (OpenID Connect) per organisation: its settings, the sign-in redirect and callback.

An admin sets the organisation's provider (issuer), its client there and how the provider's
claim maps to roles (`/v1/settings/sso`; the client secret is write-only). A person opens
`/v1/auth/sso/{tenant_id}/start`, signs in at the provider and comes back to
`/v1/auth/sso/callback`, which answers with the product's own tokens; their account is made just
in time on the first sign-in, with the mapped role. The provider is trusted for the second
factor (its sessions count as MFA'd): an organisation that uses SSO enforces MFA there.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import StringConstraints

from access.organisations import record
from access.permissions import PUBLIC
from access.sessions import PersonGone
from access.sso import Identity, Oidc, Pending, binding_cookie, refusal, role_for
from access.sso_provider import IssuerHttp, ProviderUnavailable, SsoFailed, issuer_refusal
from access.sso_store import SecretRequired, SsoChange, SsoSettings, delete_sso, get_sso, put_sso
from access.users import ProvisionRefused, provision_sso
from access_api.models_sso import SsoSettingsIn, SsoSettingsOut, SsoSignedIn, SsoUser
from access_api.routes_auth import NO_STORE
from core.ids import is_uuid
from eventstore.pool import pooled
from http_api.auth import permission
from http_api.deps import PrincipalDep, Services, ServicesDep
from http_api.problems import ProblemError, problem_responses
from notifications.outbound import Guard

router = APIRouter(tags=["access: single sign-on"])

CALLBACK_PATH = "/v1/auth/sso/callback"
COOKIE_PATH = "/v1/auth/sso"
_ADMIN = permission("settings:manage")
_PUBLIC = permission(PUBLIC)
# What the callback says of the provider's error: its code only (its description is its words).
_ERROR_CODE = re.compile(r"^[a-z0-9_.-]{1,60}$")


def redirect_uri(svc: Services) -> str:
    return svc.settings.public_url.rstrip("/") + CALLBACK_PATH


def _guard(svc: Services) -> Guard:
    return Guard.allowing(svc.settings.outbound_networks)


def _oidc(svc: Services) -> Oidc:
    return Oidc(
        IssuerHttp(_guard(svc)),
        svc.redis,
        redis_prefix=svc.settings.redis_prefix,
        secret_key=svc.settings.secret_key,
    )


def _out(svc: Services, found: SsoSettings) -> SsoSettingsOut:
    base = svc.settings.public_url.rstrip("/")
    return SsoSettingsOut(
        issuer=found.issuer,
        client_id=found.client_id,
        client_secret_set=bool(found.sealed_secret),
        scopes=list(found.scopes),
        role_claim=found.role_claim,
        role_map=dict(found.role_map),
        default_role=found.default_role,
        email_domains=list(found.email_domains),
        enabled=found.enabled,
        updated_at=found.updated_at,
        redirect_uri=redirect_uri(svc),
        start_url=f"{base}/v1/auth/sso/{found.tenant_id}/start",
    )


def _issuer_refused(why: str) -> ProblemError:
    return ProblemError(
        "rule-violated",
        f"this issuer cannot be used: {why}",
        errors=[{"loc": ["body", "issuer"], "msg": why, "type": "issuer_refused"}],
    )


async def _check_issuer(svc: Services, issuer: str) -> None:
    """A usable issuer whose discovery document answers and fits the code flow."""
    why = issuer_refusal(issuer, _guard(svc))
    if why is not None:
        raise _issuer_refused(why)
    try:
        await _oidc(svc).discover(issuer, fresh=True)
    except SsoFailed as exc:
        raise _issuer_refused(str(exc)) from None
    except ProviderUnavailable:  # a typo as often as an outage: the admin is told at once
        raise _issuer_refused(
            "it does not answer (its discovery document cannot be read)"
        ) from None


@router.get(
    "/v1/settings/sso",
    response_model=SsoSettingsOut,
    responses=problem_responses("forbidden", "not-found"),
    openapi_extra=_ADMIN,
    summary="The organisation's single sign-on settings (without the client secret)",
)
async def get_settings(who: PrincipalDep, svc: ServicesDep) -> SsoSettingsOut:
    found = await get_sso(svc.pool, who.tenant_id)
    if found is None:
        raise ProblemError("not-found", "single sign-on is not set up for this organisation")
    return _out(svc, found)


@router.put(
    "/v1/settings/sso",
    response_model=SsoSettingsOut,
    responses=problem_responses("forbidden", "rule-violated", "malformed-request"),
    openapi_extra=_ADMIN,
    summary="Set the organisation's OpenID provider, client and role mapping",
)
async def put_settings(body: SsoSettingsIn, who: PrincipalDep, svc: ServicesDep) -> SsoSettingsOut:
    await _check_issuer(svc, body.issuer)
    change = SsoChange(
        issuer=body.issuer,
        client_id=body.client_id,
        client_secret=body.client_secret,
        scopes=tuple(dict.fromkeys(body.scopes)),
        role_claim=body.role_claim,
        role_map=body.role_map,
        default_role=body.default_role,
        email_domains=tuple(dict.fromkeys(body.email_domains)),
        enabled=body.enabled,
    )
    try:
        found = await put_sso(
            svc.pool,
            svc.settings.secret_key,
            who.tenant_id,
            change,
            actor=who.actor,
            at=datetime.now(UTC),
        )
    except SecretRequired as exc:
        raise ProblemError(
            "rule-violated",
            str(exc),
            errors=[{"loc": ["body", "client_secret"], "msg": str(exc), "type": "missing"}],
        ) from None
    return _out(svc, found)


@router.delete(
    "/v1/settings/sso",
    status_code=204,
    responses=problem_responses("forbidden", "not-found"),
    openapi_extra=_ADMIN,
    summary="Turn single sign-on off (people keep their accounts)",
)
async def delete_settings(who: PrincipalDep, svc: ServicesDep) -> Response:
    if not await delete_sso(svc.pool, who.tenant_id, actor=who.actor, at=datetime.now(UTC)):
        raise ProblemError("not-found", "single sign-on is not set up for this organisation")
    return Response(status_code=204)


@router.get(
    "/v1/auth/sso/{tenant_id}/start",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {"description": "To the organisation's identity provider"},
        **problem_responses(
            "not-found",
            "sso-failed",
            common=("validation", "payload-too-large", "service-unavailable"),
        ),
    },
    openapi_extra=_PUBLIC,
    summary="Sign in with the organisation's identity provider (a redirect there)",
)
async def start(
    tenant_id: Annotated[str, StringConstraints(max_length=64)],
    svc: ServicesDep,
    login_hint: Annotated[str | None, Query(max_length=254)] = None,
) -> RedirectResponse:
    found = await get_sso(svc.pool, tenant_id) if is_uuid(tenant_id) else None
    if found is None or not found.enabled:
        raise ProblemError("not-found", "single sign-on is not set up for this organisation")
    try:
        url, cookie, binding = await _oidc(svc).begin(
            found, redirect_uri=redirect_uri(svc), login_hint=login_hint
        )
    except SsoFailed as exc:
        raise ProblemError("sso-failed", str(exc)) from None
    response = RedirectResponse(url, status_code=302, headers=NO_STORE)
    response.set_cookie(
        cookie,
        binding,
        max_age=600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=svc.settings.public_url.startswith("https://"),
    )
    return response


@router.get(
    CALLBACK_PATH,
    response_model=SsoSignedIn,
    responses=problem_responses(
        "sso-failed", common=("validation", "payload-too-large", "service-unavailable")
    ),
    openapi_extra=_PUBLIC,
    summary="Where the identity provider sends the person back: the product's tokens",
)
async def callback(
    svc: ServicesDep,
    request: Request,
    response: Response,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    iss: Annotated[str | None, Query(max_length=500)] = None,
) -> SsoSignedIn:
    oidc = _oidc(svc)
    pending = await oidc.take(state) if state else None  # taken once, whatever happens next
    cookie = binding_cookie(state) if state else None
    if cookie is not None:
        response.delete_cookie(cookie, path=COOKIE_PATH)
    response.headers.update(NO_STORE)
    if error is not None:
        said = error if _ERROR_CODE.match(error) else "an error"
        await _refused(svc, pending, None, f"the identity provider answered {said}")
    if pending is None or not code:
        raise ProblemError(
            "sso-failed", "this sign-in is unknown, used already or expired: start again"
        )
    if not pending.bound_to(request.cookies.get(cookie or "")):
        await _refused(svc, pending, None, "the sign-in was started in another browser")
    found = await get_sso(svc.pool, pending.tenant_id)
    if (
        found is None
        or not found.enabled
        or (found.issuer, found.client_id) != (pending.issuer, pending.client_id)
    ):
        await _refused(svc, pending, None, "the organisation's single sign-on changed meanwhile")
    if iss is not None and iss != found.issuer:  # RFC 9207: a mix-up of providers
        await _refused(svc, pending, None, "the answer comes from another provider")
    try:
        who = await oidc.identify(found, pending, code)
    except SsoFailed as exc:
        await _refused(svc, pending, None, str(exc))
    return await _sign_in(svc, found, pending, who)


async def _sign_in(svc: Services, sso: SsoSettings, pending: Pending, who: Identity) -> SsoSignedIn:
    why = refusal(sso, who)
    role = role_for(sso, who.claims)
    if why is not None or role is None or who.email is None:
        await _refused(svc, pending, who, why or "no role")
    try:
        user = await provision_sso(
            svc.pool,
            tenant_id=sso.tenant_id,
            issuer=sso.issuer,
            subject=who.subject,
            email=who.email,
            name=who.name or who.email,
            role=role,
        )
    except ProvisionRefused as exc:
        await _refused(svc, pending, who, str(exc))
    try:
        grant = await svc.sessions.start(tenant_id=sso.tenant_id, user_id=user.user_id, mfa=True)
    except PersonGone:
        await _refused(svc, pending, who, "this person was deactivated or removed meanwhile")
    token, ttl = await svc.tokens.issue(
        tenant_id=sso.tenant_id,
        user_id=user.user_id,
        role=user.role,
        session_id=grant.session_id,
        mfa=True,
        queues=user.queues,
    )
    detail = {"method": "sso", "issuer": sso.issuer, "session_id": grant.session_id}
    await _audit(svc, sso.tenant_id, f"user:{user.user_id}", "login", user.user_id, detail)
    now = datetime.now(UTC).timestamp()
    return SsoSignedIn(
        access_token=token,
        expires_in=ttl,
        refresh_token=grant.refresh_token,
        refresh_expires_in=max(0, int(grant.expires_at - now)),
        user=SsoUser(user_id=user.user_id, email=user.email, name=user.name, role=user.role),
    )


async def _refused(
    svc: Services, pending: Pending | None, who: Identity | None, why: str
) -> NoReturn:
    """Audit the refusal (when the organisation is known) and answer 401 sso-failed."""
    if pending is not None:
        detail: dict[str, Any] = {"reason": why, "issuer": pending.issuer}
        if who is not None:
            detail["email"] = who.email
        subject = f"sso:{who.subject}"[:300] if who is not None else None
        await _audit(svc, pending.tenant_id, "sso", "sso.refused", subject, detail)
    raise ProblemError("sso-failed", why)


async def _audit(
    svc: Services,
    tenant_id: str,
    actor: str,
    action: str,
    subject: str | None,
    detail: dict[str, Any],
) -> None:
    async with pooled(svc.pool) as conn:
        await record(
            conn, tenant_id=tenant_id, actor=actor, action=action, subject=subject, detail=detail
        )
