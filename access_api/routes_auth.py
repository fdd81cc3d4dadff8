"""Sign-up, sign-in, refresh, sign-out, email verification, password reset.

A sign-in's answer never says whether an email exists: an unknown email, a deactivated person,
a person without a password and a wrong password are the same 401 after the same work (a
password hash is checked either way), and every attempt counts against the (organisation, email)
pair before anything else (access/lockout.py): past the bound, the answer is a 429 with
Retry-After, given without hashing anything.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import NoReturn

from fastapi import APIRouter, BackgroundTasks, Response
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from access import links, mail
from access.lockout import Attempt, Lockout, Refused
from access.mfa import check_second_factor, mfa_enrolled
from access.org_settings import org_settings
from access.organisations import insert_tenant, record, record_alone
from access.passwords import check_password, hash_password, policy_problems
from access.permissions import PUBLIC, SELF
from access.sessions import PersonGone, RefreshRefused, RefreshReused
from access.users import (
    Credentials,
    User,
    credentials,
    credentials_of,
    get_user,
    insert_user,
    mark_verified,
    normal_email,
    set_password_hash,
)
from access_api.models import (
    LinkIn,
    LoginIn,
    PasswordSetOut,
    RefreshIn,
    ResetIn,
    SetPasswordIn,
    SignupIn,
    SignupOut,
    TokensOut,
    UserOut,
)
from eventstore.pool import pooled
from http_api.auth import permission, unauthorized
from http_api.deps import PrincipalDep, Services, ServicesDep
from http_api.problems import ProblemError, problem_responses
from notifications.outlet import Outlet

log = logging.getLogger(__name__)

router = APIRouter(tags=["access: sign-in"])

_PUBLIC = permission(PUBLIC)
NO_STORE = {"Cache-Control": "no-store"}


def outlet_of(conn: HTTPConnection) -> Outlet:
    found: Outlet = conn.app.state.notifications.outlet
    return found


def now() -> datetime:
    return datetime.now(UTC)


def weak_password(password: str, email: str, field: str = "password") -> None:
    """A password the policy refuses: a 409 (the document says its length; which passwords are
    too common, or too like the email, only the server knows), naming the field and why."""
    problems = policy_problems(password, email)
    if problems:
        raise ProblemError(
            "rule-violated",
            "the password must have " + "; ".join(problems),
            errors=[
                {"loc": ["body", field], "msg": p, "type": "password_policy"} for p in problems
            ],
        )


def link_expired() -> ProblemError:
    return ProblemError("link-expired", "this link has expired or was used already: ask again")


async def admit(gate: Lockout, tenant_id: str, email: str) -> Attempt:
    """One attempt against the (organisation, email) pair; a 429 when it must wait."""
    try:
        return await gate.begin(tenant_id, email)
    except Refused as refused:
        why = "this account is locked" if refused.locked else "too many failed attempts"
        raise ProblemError(
            "too-many-attempts",
            f"{why}; try again in {refused.retry_after_s} s",
            headers={"Retry-After": str(refused.retry_after_s)},
        ) from None


async def end_sessions(svc: Services, tenant_id: str, user_id: str, reason: str) -> None:
    """Every session of the person ends, and its access tokens are refused at once."""
    for session_id in await svc.sessions.end_all(tenant_id, user_id, reason=reason):
        await svc.tokens.deny_session(session_id)


async def sign_in(svc: Services, person: User, *, mfa: bool) -> TokensOut:
    """A new session of the person, and its first pair of tokens."""
    try:
        grant = await svc.sessions.start(
            tenant_id=person.tenant_id, user_id=person.user_id, mfa=mfa
        )
    except PersonGone:  # removed or deactivated while signing in: as if unknown
        raise ProblemError("invalid-credentials", "the email or the password is wrong") from None
    return await tokens_out(
        svc, person, grant.session_id, mfa, grant.refresh_token, grant.expires_at
    )


async def tokens_out(
    svc: Services, person: User, session_id: str, mfa: bool, refresh: str, refresh_until: float
) -> TokensOut:
    access, lifetime = await svc.tokens.issue(
        tenant_id=person.tenant_id,
        user_id=person.user_id,
        role=person.role,
        session_id=session_id,
        mfa=mfa,
        queues=person.queues,
    )
    required = person.role in (await org_settings(svc.pool, person.tenant_id)).mfa_roles
    return TokensOut(
        access_token=access,
        expires_in=lifetime,
        refresh_token=refresh,
        refresh_expires_in=max(0, int(refresh_until - time.time())),
        mfa=mfa,
        mfa_enrolment_required=required and not mfa,
        user=UserOut.of(person),
    )


@router.post(
    "/v1/signup",
    status_code=201,
    response_model=SignupOut,
    responses=problem_responses("signup-closed", "rule-violated", "malformed-request"),
    summary="Sign up a new organisation and its first admin (when the deployment allows it)",
    openapi_extra=_PUBLIC,
)
async def signup(body: SignupIn, svc: ServicesDep, conn: HTTPConnection) -> SignupOut:
    if not svc.settings.signup_open:
        raise ProblemError("signup-closed", "ask the operator of this deployment for an account")
    weak_password(body.password, body.email)
    hashed = await hash_password(body.password)
    async with pooled(svc.pool) as db, db.transaction():
        tenant_id = await insert_tenant(db, body.organisation)
        person = await insert_user(
            db,
            tenant_id=tenant_id,
            email=body.email,
            name=body.name,
            role="admin",
            language=body.language,
            password_hash=hashed,
        )
        link = await links.issue(db, tenant_id, person.user_id, "verify-email", now())
        actor = f"user:{person.user_id}"
        await record(db, tenant_id=tenant_id, actor=actor, action="signup", subject=person.user_id)
    queued = await mail.send_link(
        outlet_of(conn), svc.settings.public_url, person, body.organisation, link, "verify-email"
    )
    return SignupOut(tenant_id=tenant_id, user_id=person.user_id, email_queued=queued)


@router.post(
    "/v1/auth/login",
    response_model=TokensOut,
    responses=problem_responses(
        "invalid-credentials", "mfa-required", "too-many-attempts", "malformed-request"
    ),
    summary="Sign in with an email and a password (and a TOTP code when enrolled)",
    openapi_extra=_PUBLIC,
)
async def login(body: LoginIn, svc: ServicesDep, response: Response) -> TokensOut:
    response.headers.update(NO_STORE)
    tenant_id, email = str(body.tenant_id), normal_email(body.email)
    gate = Lockout(svc.redis, svc.settings)
    attempt = await admit(gate, tenant_id, email)
    exists, found = await credentials(svc.pool, tenant_id, email)
    person = found.user if found is not None and found.user.active else None
    stored = found.password_hash if found is not None and person is not None else None
    checked = await check_password(stored, body.password)
    if person is None or not checked.ok:
        await failed(svc, attempt, tenant_id, email, found, _why(found) if exists else None)
    mfa = await mfa_enrolled(svc.pool, tenant_id, person.user_id)
    if mfa:
        if body.otp is None:
            await gate.forgive(attempt)
            raise ProblemError("mfa-required", "send the current code of your authenticator app")
        if not await check_second_factor(
            svc.pool, svc.settings, tenant_id, person.user_id, body.otp
        ):
            await failed(svc, attempt, tenant_id, email, found, "second factor")
    await gate.succeeded(attempt)
    async with pooled(svc.pool) as db, db.transaction():
        if checked.rehash is not None:
            await set_password_hash(db, tenant_id, person.user_id, checked.rehash)
        actor = f"user:{person.user_id}"
        detail = {"mfa": mfa}
        await record(db, tenant_id=tenant_id, actor=actor, action="login", detail=detail)
    return await sign_in(svc, person, mfa=mfa)


def _why(found: Credentials | None) -> str:
    """What went wrong, for the organisation's audit trail only (never for the caller)."""
    if found is None:
        return "unknown email"
    if not found.user.active:
        return "deactivated"
    return "password" if found.password_hash is not None else "no password set"


async def failed(
    svc: Services,
    attempt: Attempt,
    tenant_id: str,
    email: str,
    found: Credentials | None,
    why: str | None,
) -> NoReturn:
    """Audit a failed sign-in (`why` None: no such organisation, nothing to audit) and refuse
    it, the same way whatever went wrong."""
    if why is not None:
        subject = found.user.user_id if found is not None else None
        async with pooled(svc.pool) as db, db.transaction():
            entry = {"email": email, "reason": why, "failures": attempt.failures}
            await record(
                db,
                tenant_id=tenant_id,
                actor="anonymous",
                action="login.failed",
                subject=subject,
                detail=entry,
            )
            if attempt.locks:
                until = svc.settings.login_lockout_s
                await record(
                    db,
                    tenant_id=tenant_id,
                    actor="system",
                    action="account.locked",
                    subject=subject,
                    detail={"email": email, "seconds": until, "failures": attempt.failures},
                )
    if why == "second factor":
        raise ProblemError(
            "mfa-required", "this code was not accepted (wrong, used already, or blocked)"
        )
    raise ProblemError("invalid-credentials", "the email or the password is wrong")


@router.post(
    "/v1/auth/refresh",
    response_model=TokensOut,
    responses=problem_responses("unauthorized", "token-reused", "malformed-request"),
    summary="The next pair of tokens for a refresh token (which works once)",
    openapi_extra=_PUBLIC,
)
async def refresh(body: RefreshIn, svc: ServicesDep, response: Response) -> TokensOut:
    response.headers.update(NO_STORE)
    try:
        grant = await svc.sessions.rotate(body.refresh_token)
    except RefreshReused as reused:
        await svc.tokens.deny_session(reused.session_id)
        raise ProblemError(
            "token-reused", "this refresh token was used already: its session is ended"
        ) from None
    except RefreshRefused as refused:
        raise unauthorized(str(refused)) from None
    person = await get_user(svc.pool, grant.tenant_id, grant.user_id)
    if person is None or not person.active:
        await svc.sessions.end(grant.session_id, reason="deactivated")
        await svc.tokens.deny_session(grant.session_id)
        raise unauthorized("this account is deactivated")
    return await tokens_out(
        svc, person, grant.session_id, grant.mfa, grant.refresh_token, grant.expires_at
    )


@router.post(
    "/v1/auth/logout",
    status_code=204,
    responses=problem_responses("forbidden"),
    summary="Sign out: the session ends, its access and refresh tokens are refused at once",
    openapi_extra=permission(SELF),
)
async def logout(who: PrincipalDep, svc: ServicesDep) -> Response:
    if who.session_id is None or who.user_id is None:
        raise ProblemError("forbidden", "only a person's session can sign out (not a key)")
    await svc.sessions.end(who.session_id, reason="signed out")
    await svc.tokens.deny_session(who.session_id)
    await record_alone(
        svc.pool,
        tenant_id=who.tenant_id,
        actor=who.actor,
        action="logout",
        subject=who.session_id,
    )
    return Response(status_code=204)


@router.post(
    "/v1/auth/verify-email",
    status_code=204,
    responses=problem_responses("link-expired", "malformed-request"),
    summary="Confirm an email address with the emailed link's token",
    openapi_extra=_PUBLIC,
)
async def verify_email(body: LinkIn, svc: ServicesDep) -> Response:
    async with pooled(svc.pool) as db, db.transaction():
        link = await links.use(db, body.token, ("verify-email",), now())
        if link is None:
            raise link_expired()
        if await mark_verified(db, link.tenant_id, link.user_id):
            await record(
                db,
                tenant_id=link.tenant_id,
                actor=f"user:{link.user_id}",
                action="email.verified",
                subject=link.user_id,
            )
    return Response(status_code=204)


@router.post(
    "/v1/auth/password-reset",
    status_code=202,
    responses=problem_responses("too-many-attempts", "malformed-request"),
    summary="Email a password-reset link (the answer is the same whether the email exists)",
    openapi_extra=_PUBLIC,
)
async def password_reset(
    body: ResetIn, svc: ServicesDep, tasks: BackgroundTasks, conn: HTTPConnection
) -> Response:
    tenant_id, email = str(body.tenant_id), normal_email(body.email)
    await admit(Lockout(svc.redis, svc.settings, "reset"), tenant_id, email)
    # After the answer: its timing must not depend on whether the person exists.
    tasks.add_task(
        mail.send_reset, svc.pool, outlet_of(conn), svc.settings.public_url, tenant_id, email
    )
    return JSONResponse(
        {"detail": "if this email belongs to a person of the organisation, a link is on its way"},
        status_code=202,
    )


@router.post(
    "/v1/auth/password",
    response_model=PasswordSetOut,
    responses=problem_responses("link-expired", "rule-violated", "malformed-request"),
    summary="Set a password with an invitation's or a reset's emailed link (verifies the email)",
    openapi_extra=_PUBLIC,
)
async def set_password(body: SetPasswordIn, svc: ServicesDep) -> PasswordSetOut:
    link = await links.peek(svc.pool, body.token, ("invite", "reset-password"), now())
    found = None if link is None else await credentials_of(svc.pool, link.tenant_id, link.user_id)
    if link is None or found is None or not found.user.active:
        raise link_expired()
    person = found.user
    weak_password(body.password, person.email)
    hashed = await hash_password(body.password)
    action = "password.reset" if link.purpose == "reset-password" else "password.set"
    async with pooled(svc.pool) as db, db.transaction():
        if await links.use(db, body.token, (link.purpose,), now()) is None:
            raise link_expired()  # used meanwhile, by a request that raced this one
        await set_password_hash(db, person.tenant_id, person.user_id, hashed, verify=True)
        tenant, actor, subject = person.tenant_id, f"user:{person.user_id}", person.user_id
        await record(db, tenant_id=tenant, actor=actor, action=action, subject=subject)
        if not person.email_verified:
            await record(
                db, tenant_id=tenant, actor=actor, action="email.verified", subject=subject
            )
    if link.purpose == "reset-password":
        await end_sessions(svc, person.tenant_id, person.user_id, "password reset")
    for kind in ("login", "reset"):
        await Lockout(svc.redis, svc.settings, kind).reset(person.tenant_id, person.email)
    return PasswordSetOut(user_id=person.user_id, tenant_id=person.tenant_id, email=person.email)
