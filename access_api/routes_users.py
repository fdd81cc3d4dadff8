"""People of the organisation: invite, list, roles and queue assignments, deactivate (PATCH),
remove for good (DELETE); the caller's own profile."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response
from starlette.requests import HTTPConnection

from access import links, mail
from access.lockout import Lockout
from access.organisations import open_sessions, record, tenant_name
from access.passwords import check_password, hash_password
from access.permissions import SELF
from access.user_removal import remove_user
from access.users import (
    EmailTaken,
    LastAdmin,
    User,
    credentials_of,
    get_user,
    insert_user,
    list_users,
    set_password_hash,
    update_user,
)
from access_api.models import (
    InvitedOut,
    InviteIn,
    MeOut,
    MePatchIn,
    PasswordChangeIn,
    UserList,
    UserOut,
    UserPatchIn,
    VerificationSentOut,
)
from access_api.routes_auth import (
    admit,
    end_sessions,
    now,
    outlet_of,
    weak_password,
)
from eventstore.pool import pooled
from http_api.auth import Principal, permission
from http_api.deps import PrincipalDep, Services, ServicesDep
from http_api.problems import ProblemError, problem_responses

router = APIRouter(tags=["access: people"])

_MANAGE = permission("users:manage")
_SELF = permission(SELF)
UserId = Annotated[uuid.UUID, Path(description="The person's id")]


def not_found(user_id: uuid.UUID | str) -> ProblemError:
    return ProblemError("not-found", f"user {user_id} not found")


async def owned(svc: Services, who: Principal, user_id: uuid.UUID | str) -> User:
    """The person, if they are of the caller's organisation (else a 404, as for nobody)."""
    found = await get_user(svc.pool, who.tenant_id, str(user_id))
    if found is None:
        raise not_found(user_id)
    return found


async def check_queues(svc: Services, tenant_id: str, queues: list[uuid.UUID] | None) -> None:
    for queue_id in queues or ():
        owner = await svc.store.stream_owner(str(queue_id))
        if owner is None or owner[0] != tenant_id:
            raise ProblemError("not-found", f"queue {queue_id} not found")


async def invite_email(svc: Services, conn: HTTPConnection, person: User) -> bool:
    """A new invitation link (voiding the older ones), emailed; whether it is on its way."""
    async with pooled(svc.pool) as db, db.transaction():
        link = await links.issue(db, person.tenant_id, person.user_id, "invite", now())
    organisation = await tenant_name(svc.pool, person.tenant_id) or ""
    return await mail.send_link(
        outlet_of(conn), svc.settings.public_url, person, organisation, link, "invite"
    )


@router.post(
    "/v1/users",
    status_code=201,
    response_model=InvitedOut,
    responses=problem_responses("forbidden", "already-exists", "not-found", "malformed-request"),
    summary="Invite a person by email (the email carries a link to choose a password)",
    openapi_extra=_MANAGE,
)
async def invite(
    body: InviteIn, who: PrincipalDep, svc: ServicesDep, conn: HTTPConnection
) -> InvitedOut:
    await check_queues(svc, who.tenant_id, body.queues)
    queues = None if body.queues is None else tuple(str(q) for q in body.queues)
    async with pooled(svc.pool) as db, db.transaction():
        try:
            person = await insert_user(
                db,
                tenant_id=who.tenant_id,
                email=body.email,
                name=body.name,
                role=body.role,
                queues=queues,
                language=body.language,
            )
        except EmailTaken as taken:
            raise ProblemError("already-exists", str(taken)) from None
        detail = {"role": body.role, "email": person.email}
        await record(
            db,
            tenant_id=who.tenant_id,
            actor=who.actor,
            action="user.invited",
            subject=person.user_id,
            detail=detail,
        )
    queued = await invite_email(svc, conn, person)
    return InvitedOut(**UserOut.of(person).model_dump(), email_queued=queued)


@router.post(
    "/v1/users/{user_id}/invite",
    response_model=InvitedOut,
    responses=problem_responses("forbidden", "not-found", "rule-violated"),
    summary="Send the invitation again (a new link; the older ones stop working)",
    openapi_extra=_MANAGE,
)
async def reinvite(
    user_id: UserId, who: PrincipalDep, svc: ServicesDep, conn: HTTPConnection
) -> InvitedOut:
    found = await credentials_of(svc.pool, who.tenant_id, str(user_id))
    if found is None:
        raise not_found(user_id)
    if found.password_hash is not None or not found.user.active:
        raise ProblemError(
            "rule-violated", "only an active person who has not set a password yet is invited"
        )
    queued = await invite_email(svc, conn, found.user)
    return InvitedOut(**UserOut.of(found.user).model_dump(), email_queued=queued)


@router.get(
    "/v1/users",
    response_model=UserList,
    responses=problem_responses("forbidden"),
    summary="The organisation's people, in the order they were added",
    openapi_extra=_MANAGE,
)
async def list_(
    who: PrincipalDep,
    svc: ServicesDep,
    after: Annotated[
        uuid.UUID | None, Query(description="The last user id of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> UserList:
    page = await list_users(
        svc.pool, who.tenant_id, after=None if after is None else str(after), limit=limit
    )
    last = page[-1].user_id if len(page) == limit else None
    return UserList(users=[UserOut.of(p) for p in page], next_after=last)


@router.get(
    "/v1/users/{user_id}",
    response_model=UserOut,
    responses=problem_responses("forbidden", "not-found"),
    summary="One person",
    openapi_extra=_MANAGE,
)
async def get(user_id: UserId, who: PrincipalDep, svc: ServicesDep) -> UserOut:
    return UserOut.of(await owned(svc, who, user_id))


async def change(svc: Services, who: Principal, user_id: str, changes: dict[str, Any]) -> User:
    """Apply a manager's changes to a person, audit them, and end the person's sessions when
    their role changed or they were deactivated (their tokens carry the old role)."""
    async with pooled(svc.pool) as db, db.transaction():
        try:
            found = await update_user(db, who.tenant_id, user_id, changes)
        except LastAdmin as refused:
            raise ProblemError("rule-violated", str(refused)) from None
        if found is None:
            raise not_found(user_id)
        before, after = found
        if before.active and not after.active:
            await links.void(db, who.tenant_id, user_id, now())
        for action, old, new in _changes(before, after):
            await record(
                db,
                tenant_id=who.tenant_id,
                actor=who.actor,
                action=action,
                subject=user_id,
                detail={"from": old, "to": new},
            )
    if (
        before.role != after.role
        or (before.active and not after.active)
        or _narrowed(before, after)
    ):
        await end_sessions(svc, who.tenant_id, user_id, "role, queues or access changed")
    return after


def _narrowed(before: User, after: User) -> bool:
    """Whether a staff member lost a queue (their tokens would still name it)."""
    if after.queues is None:
        return False
    return before.queues is None or bool(set(before.queues) - set(after.queues))


def _changes(before: User, after: User) -> list[tuple[str, Any, Any]]:
    found: list[tuple[str, Any, Any]] = []
    if before.role != after.role:
        found.append(("user.role_changed", before.role, after.role))
    if before.active != after.active:
        found.append(("user.deactivated" if before.active else "user.reactivated", True, False))
    if before.queues != after.queues:
        old, new = before.queues, after.queues
        found.append(("user.queues_changed", old and list(old), new and list(new)))
    if before.name != after.name:
        found.append(("user.renamed", before.name, after.name))
    return found


@router.patch(
    "/v1/users/{user_id}",
    response_model=UserOut,
    responses=problem_responses("forbidden", "not-found", "rule-violated", "malformed-request"),
    summary="Change a person's name, role, queues or whether they may sign in",
    openapi_extra=_MANAGE,
)
async def patch(
    user_id: UserId,
    who: PrincipalDep,
    svc: ServicesDep,
    body: Annotated[UserPatchIn | None, Body()] = None,
) -> UserOut:
    body = body or UserPatchIn()  # no body, or null: nothing changes
    given = body.model_fields_set
    changes = {n: getattr(body, n) for n in given if getattr(body, n) is not None or n == "queues"}
    if "queues" in changes:
        await check_queues(svc, who.tenant_id, body.queues)
        changes["queues"] = None if body.queues is None else tuple(str(q) for q in body.queues)
    return UserOut.of(await change(svc, who, str(user_id), changes))


@router.delete(
    "/v1/users/{user_id}",
    status_code=204,
    responses=problem_responses("forbidden", "not-found", "rule-violated"),
    summary="Remove a person for good (to keep them but stop their sign-in: PATCH active false)",
    description=(
        "The person is erased: account, password, second factor, pending links. Their sessions "
        "end and their access tokens are refused at once; then the id is a 404 and the email "
        "may be invited again, as a new person. The audit trail records `user.removed` with the "
        'id only. To stop someone signing in and keep them, `PATCH` `{"active": false}` '
        "instead (`true` undoes it); with single sign-on, a removed person who signs on again "
        "is a new person. The last active admin cannot be removed (409); yourself otherwise can."
    ),
    openapi_extra=_MANAGE,
)
async def remove(user_id: UserId, who: PrincipalDep, svc: ServicesDep) -> Response:
    target, deny = str(user_id), svc.tokens.deny_session
    async with pooled(svc.pool) as db, db.transaction():
        try:
            removed = await remove_user(db, deny, who.tenant_id, target, actor=who.actor)
        except LastAdmin as refused:
            raise ProblemError("rule-violated", str(refused)) from None
    if removed is None:
        raise not_found(user_id)
    return Response(status_code=204)


# -- the caller's own profile ----------------------------------------------------------------------


async def myself(svc: Services, who: Principal) -> User:
    if who.user_id is None:
        raise ProblemError("forbidden", "only a person's own session may do this (not a key)")
    found = await get_user(svc.pool, who.tenant_id, who.user_id)
    if found is None:
        raise not_found(who.user_id)
    return found


@router.get(
    "/v1/me",
    response_model=MeOut,
    responses=problem_responses("forbidden"),
    summary="Who you are signed in as, and to which organisation (its id and name)",
    openapi_extra=_SELF,
)
async def me(who: PrincipalDep, svc: ServicesDep) -> MeOut:
    person = await myself(svc, who)
    return MeOut.of_person(person, await tenant_name(svc.pool, who.tenant_id) or "")


@router.patch(
    "/v1/me",
    response_model=UserOut,
    responses=problem_responses("forbidden", "malformed-request"),
    summary="Change your name or language",
    openapi_extra=_SELF,
)
async def patch_me(
    who: PrincipalDep, svc: ServicesDep, body: Annotated[MePatchIn | None, Body()] = None
) -> UserOut:
    body = body or MePatchIn()  # no body, or null: nothing changes
    person = await myself(svc, who)
    changes = {n: getattr(body, n) for n in body.model_fields_set if getattr(body, n) is not None}
    async with pooled(svc.pool) as db, db.transaction():
        found = await update_user(db, who.tenant_id, person.user_id, changes)
    if found is None:
        raise not_found(person.user_id)
    return UserOut.of(found[1])


@router.post(
    "/v1/me/password",
    status_code=204,
    responses=problem_responses(
        "forbidden",
        "invalid-credentials",
        "too-many-attempts",
        "rule-violated",
        "malformed-request",
    ),
    summary="Change your password (your other sessions end)",
    openapi_extra=_SELF,
)
async def change_password(body: PasswordChangeIn, who: PrincipalDep, svc: ServicesDep) -> Response:
    person = await myself(svc, who)
    gate = Lockout(svc.redis, svc.settings)
    attempt = await admit(gate, person.tenant_id, person.email)
    found = await credentials_of(svc.pool, person.tenant_id, person.user_id)
    stored = found.password_hash if found is not None else None
    checked = await check_password(stored, body.current_password)
    if not checked.ok:
        if attempt.locks:
            async with pooled(svc.pool) as db:
                await record(
                    db,
                    tenant_id=person.tenant_id,
                    actor="system",
                    action="account.locked",
                    subject=person.user_id,
                    detail={"seconds": svc.settings.login_lockout_s, "failures": attempt.failures},
                )
        raise ProblemError("invalid-credentials", "the current password is wrong")
    await gate.succeeded(attempt)
    weak_password(body.new_password, person.email, "new_password")
    hashed = await hash_password(body.new_password)
    async with pooled(svc.pool) as db, db.transaction():
        await set_password_hash(db, person.tenant_id, person.user_id, hashed)
        await record(
            db,
            tenant_id=person.tenant_id,
            actor=who.actor,
            action="password.changed",
            subject=person.user_id,
        )
    for session_id in await open_sessions(svc.pool, person.tenant_id, person.user_id):
        if session_id != who.session_id:
            await svc.sessions.end(session_id, reason="password changed")
            await svc.tokens.deny_session(session_id)
    return Response(status_code=204)


@router.post(
    "/v1/me/verify-email",
    status_code=202,
    response_model=VerificationSentOut,
    responses=problem_responses("forbidden", "rule-violated", "too-many-attempts"),
    summary="Email a new verification link (the older ones stop working)",
    openapi_extra=_SELF,
)
async def resend_verification(
    who: PrincipalDep, svc: ServicesDep, conn: HTTPConnection
) -> VerificationSentOut:
    person = await myself(svc, who)
    if person.email_verified:
        raise ProblemError("rule-violated", "your email address is verified already")
    await admit(Lockout(svc.redis, svc.settings, "reset"), person.tenant_id, person.email)
    async with pooled(svc.pool) as db, db.transaction():
        link = await links.issue(db, person.tenant_id, person.user_id, "verify-email", now())
    organisation = await tenant_name(svc.pool, person.tenant_id) or ""
    queued = await mail.send_link(
        outlet_of(conn), svc.settings.public_url, person, organisation, link, "verify-email"
    )
    return VerificationSentOut(email_queued=queued)
