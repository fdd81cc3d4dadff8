"""Two-factor authentication of the signed-in person: TOTP enrolment (QR code), confirmation,
recovery codes, removal.

Only a person's own session may call these (an API key gets a 403). A secret or recovery codes
are in a response once, with `Cache-Control: no-store`; a code in a request is never logged or
echoed back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, Field

from access.mfa import (
    AlreadyEnrolled,
    MfaError,
    NotEnrolled,
    Person,
    SecondFactors,
    TooManyAttempts,
    UnknownPerson,
    WrongCode,
)
from access.permissions import SELF
from access_api.models import StrictModel
from access_api.routes_auth import NO_STORE
from http_api.auth import Principal, permission
from http_api.deps import PrincipalDep, Services, ServicesDep
from http_api.problems import ProblemError, problem_responses

router = APIRouter(prefix="/v1/me/mfa", tags=["access: two-factor authentication"])

_SELF = permission(SELF)
_CODE_PROBLEMS = ("forbidden", "not-found", "wrong-code", "too-many-attempts", "malformed-request")


class MfaStatusOut(BaseModel):
    enrolled: bool = Field(description="A confirmed second factor is asked for at sign-in")
    pending: bool = Field(description="An enrolment was started and awaits its first code")
    recovery_codes_left: int = Field(description="Unused recovery codes (0 when not enrolled)")
    enrolled_at: datetime | None = None


class TotpEnrolmentOut(BaseModel):
    secret: str = Field(description="The TOTP secret (base32), for typing into the app by hand")
    otpauth_uri: str = Field(description="The `otpauth://totp/...` URI the QR code holds")
    qr_svg: str = Field(description="The URI as a QR code, an SVG document to show the person")


class CodeIn(StrictModel):  # an unknown field, a NUL: a 422
    code: str = Field(
        min_length=6,
        max_length=20,
        description="A current 6-digit code from the authenticator app, or (to remove the "
        "factor or renew recovery codes) an unused recovery code `xxxx-xxxx`",
        examples=["123456"],
    )


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str] = Field(
        description="Ten single-use codes for when the app is lost: shown this once only",
        examples=[["7kq2-mx9d", "..."]],
    )


def _person(who: Principal) -> Person:
    if who.user_id is None:  # the SELF permission admits people only; never a key
        raise ProblemError("forbidden", "only a person's own session may do this (not a key)")
    try:
        return Person(who.tenant_id, who.user_id)
    except UnknownPerson as error:
        raise _problem(error) from None


def _factors(svc: Services) -> SecondFactors:
    return SecondFactors(svc.pool, svc.settings.secret_key)


def _problem(error: MfaError) -> ProblemError:
    if isinstance(error, AlreadyEnrolled):
        return ProblemError("already-exists", str(error))
    if isinstance(error, (NotEnrolled, UnknownPerson)):
        return ProblemError("not-found", str(error))
    if isinstance(error, TooManyAttempts):
        return ProblemError(
            "too-many-attempts", str(error), headers={"Retry-After": str(error.retry_after_s)}
        )
    assert isinstance(error, WrongCode)
    # A well-formed code that does not match: the request is valid, the code is not the one
    # (a 409, like any valid request the state refuses). The code is never echoed back.
    return ProblemError("wrong-code", str(error))


@router.get(
    "",
    response_model=MfaStatusOut,
    responses=problem_responses("forbidden"),
    summary="Whether you have a second factor, and how many recovery codes are left",
    openapi_extra=_SELF,
)
async def mfa_status(who: PrincipalDep, svc: ServicesDep) -> MfaStatusOut:
    status = await _factors(svc).status(_person(who))
    return MfaStatusOut(
        enrolled=status.enrolled,
        pending=status.pending,
        recovery_codes_left=status.recovery_codes_left,
        enrolled_at=status.enrolled_at,
    )


@router.post(
    "/totp",
    status_code=201,
    response_model=TotpEnrolmentOut,
    responses=problem_responses("forbidden", "not-found", "already-exists"),
    summary="Start enrolling an authenticator app: a new secret and its QR code (shown once); "
    "confirm it with a code",
    openapi_extra=_SELF,
)
async def start_totp(who: PrincipalDep, svc: ServicesDep, response: Response) -> TotpEnrolmentOut:
    response.headers.update(NO_STORE)
    try:
        made = await _factors(svc).enrol(_person(who), at=datetime.now(UTC))
    except MfaError as error:
        raise _problem(error) from None
    return TotpEnrolmentOut(secret=made.secret, otpauth_uri=made.otpauth_uri, qr_svg=made.qr_svg)


@router.post(
    "/totp/confirm",
    response_model=RecoveryCodesOut,
    responses=problem_responses("already-exists", *_CODE_PROBLEMS),
    summary="Confirm the enrolment with a code from the app: your recovery codes (shown once)",
    openapi_extra=_SELF,
)
async def confirm_totp(
    body: Annotated[CodeIn, Body()], who: PrincipalDep, svc: ServicesDep, response: Response
) -> RecoveryCodesOut:
    response.headers.update(NO_STORE)
    try:
        codes = await _factors(svc).confirm(
            _person(who), body.code, actor=who.actor, at=datetime.now(UTC)
        )
    except MfaError as error:
        raise _problem(error) from None
    return RecoveryCodesOut(recovery_codes=codes)


@router.delete(
    "/totp",
    status_code=204,
    responses=problem_responses(*_CODE_PROBLEMS),
    summary="Remove your second factor (give a current code or a recovery code)",
    openapi_extra=_SELF,
)
async def remove_totp(
    body: Annotated[CodeIn, Body()], who: PrincipalDep, svc: ServicesDep
) -> Response:
    try:
        await _factors(svc).disable(_person(who), body.code, actor=who.actor, at=datetime.now(UTC))
    except MfaError as error:
        raise _problem(error) from None
    return Response(status_code=204)


@router.post(
    "/recovery-codes",
    response_model=RecoveryCodesOut,
    responses=problem_responses(*_CODE_PROBLEMS),
    summary="New recovery codes in place of the old ones (give a current code or a recovery "
    "code); shown once",
    openapi_extra=_SELF,
)
async def renew_recovery_codes(
    body: Annotated[CodeIn, Body()], who: PrincipalDep, svc: ServicesDep, response: Response
) -> RecoveryCodesOut:
    response.headers.update(NO_STORE)
    try:
        codes = await _factors(svc).regenerate_recovery_codes(
            _person(who), body.code, actor=who.actor, at=datetime.now(UTC)
        )
    except MfaError as error:
        raise _problem(error) from None
    return RecoveryCodesOut(recovery_codes=codes)
