"""Request and response bodies of sign-up, sign-in, sessions, people and the caller's profile."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from access.passwords import MAX_LENGTH, MIN_LENGTH
from access.users import User
from access_api.models_keys import SPACE
from http_api.formats import numbers_as_numbers
from notifications.templates import LANGUAGES

if TYPE_CHECKING:
    Language = str
else:
    Language = Literal[tuple(LANGUAGES)]

PersonRole = Literal["admin", "manager", "staff", "viewer"]

# What a request may hold is what the document says, checked on the text as sent (nothing is
# stripped first: " " or " ada@example.com" would pass one and not the other), with the
# document's own regex semantics (Python's `re`, as the fuzzers and most validators use): the
# text is normalised only after it was accepted.

# An address the SMTP relay can be given as is: ASCII, one @, a dotted domain (no display name).
Email = Annotated[
    str,
    StringConstraints(
        min_length=3,
        max_length=254,
        pattern=r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$",
    ),
    Field(examples=["ada@example.com"]),
]
# One line with something visible in it (stored without the whitespace around it).
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=f"^[^\r\n]*[^{SPACE}][^\r\n]*$"),
    AfterValidator(str.strip),
]
NewPassword = Annotated[
    str,
    StringConstraints(min_length=MIN_LENGTH, max_length=MAX_LENGTH),
    Field(
        description=f"{MIN_LENGTH} to {MAX_LENGTH} characters; not your email address, not one "
        "of the most common passwords, not one or two characters repeated (else a 409 "
        "`rule-violated`)",
        examples=["a long passphrase you do not use elsewhere"],
    ),
]
# What a sign-in accepts: any password once set (an older, shorter one too), bounded.
GivenPassword = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
LinkToken = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    Field(description="The token of the emailed link (after `#token=`)"),
]


def _distinct(values: list[uuid.UUID]) -> list[uuid.UUID]:
    if len(set(values)) != len(values):
        raise ValueError("each queue once")
    return values


Queues = Annotated[
    list[uuid.UUID],
    AfterValidator(_distinct),
    Field(max_length=200, json_schema_extra={"uniqueItems": True}),
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=2000, regex_engine="python-re")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        """PostgreSQL stores no NUL in text: refuse it here, as a 422."""
        if isinstance(data, dict) and any(
            isinstance(v, str) and "\x00" in v for v in data.values()
        ):
            raise ValueError("text may not contain NUL (\\u0000) characters")
        return numbers_as_numbers(cls, data)  # a number is a JSON number


# -- sign-up and sign-in ---------------------------------------------------------------------------


class SignupIn(StrictModel):
    organisation: Name = Field(description="The organisation's name", examples=["City Clinic"])
    name: Name = Field(description="Your name", examples=["Ada Lovelace"])
    email: Email
    password: NewPassword
    language: Language = "en"


class SignupOut(BaseModel):
    tenant_id: str
    user_id: str
    email_queued: bool = Field(
        description="Whether the verification email is on its way (if not: ask for a new link "
        "with `POST /v1/me/verify-email` once signed in)"
    )


class LoginIn(StrictModel):
    tenant_id: uuid.UUID = Field(description="The organisation to sign in to")
    email: Email
    password: GivenPassword
    otp: Annotated[str, StringConstraints(min_length=6, max_length=20)] | None = Field(
        default=None,
        description="A current TOTP code (or a recovery code) when you have a second factor",
    )


class UserOut(BaseModel):
    user_id: str
    email: str
    name: str
    role: PersonRole
    queues: list[str] | None = Field(description="Assigned queues (staff); null: every queue")
    active: bool
    email_verified: bool
    language: str

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            user_id=user.user_id,
            email=user.email,
            name=user.name,
            role=user.role,  # type: ignore[arg-type]  # the table's CHECK keeps it a PersonRole
            queues=None if user.queues is None else list(user.queues),
            active=user.active,
            email_verified=user.email_verified,
            language=user.language,
        )


class OrganisationOut(BaseModel):
    tenant_id: str = Field(description="The organisation's id (what signing in asks for)")
    name: str = Field(description="The organisation's name, as people know it")


class MeOut(UserOut):
    """The caller's own profile, with the organisation they are signed in to."""

    organisation: OrganisationOut

    @classmethod
    def of_person(cls, user: User, organisation: str) -> MeOut:
        found = OrganisationOut(tenant_id=user.tenant_id, name=organisation)
        return cls(**UserOut.of(user).model_dump(), organisation=found)


class TokensOut(BaseModel):
    access_token: str = Field(description="A JWT (ES256): `Authorization: Bearer <it>`")
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds the access token is valid")
    refresh_token: str = Field(description="Single use: `POST /v1/auth/refresh` gives the next")
    refresh_expires_in: int = Field(description="Seconds the refresh token is valid")
    mfa: bool = Field(description="The session was opened with a second factor")
    mfa_enrolment_required: bool = Field(
        description="Your organisation asks your role for a second factor and you have none: "
        "only your own routes are open until you enrol one (`/v1/me/mfa/totp`) and sign in again"
    )
    user: UserOut


class RefreshIn(StrictModel):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class LinkIn(StrictModel):
    token: LinkToken


class ResetIn(StrictModel):
    tenant_id: uuid.UUID
    email: Email


class SetPasswordIn(StrictModel):
    token: LinkToken
    password: NewPassword


class PasswordSetOut(BaseModel):
    user_id: str
    tenant_id: str
    email: str


# -- people ----------------------------------------------------------------------------------------


class InviteIn(StrictModel):
    email: Email
    name: Name
    role: PersonRole
    queues: Queues | None = Field(
        default=None, description="Queues a staff member serves; null or absent: every queue"
    )
    language: Language = "en"


class InvitedOut(UserOut):
    email_queued: bool = Field(
        description="Whether the invitation email is on its way (if not: send it again with "
        "`POST /v1/users/{user_id}/invite`)"
    )


class UserList(BaseModel):
    users: list[UserOut]
    next_after: str | None = Field(
        description="Pass as `after` for the next page; null: this was the last page"
    )


class UserPatchIn(StrictModel):
    """Only what is given changes; a null name, role or active changes nothing, but
    `queues: null` assigns every queue."""

    name: Name | None = None
    role: PersonRole | None = None
    queues: Queues | None = None
    active: StrictBool | None = None


class MePatchIn(StrictModel):
    """Only what is given (and not null) changes."""

    name: Name | None = None
    language: Language | None = None


class VerificationSentOut(BaseModel):
    email_queued: bool = Field(
        description="Whether the email is on its way (if not: ask again in a moment)"
    )


class PasswordChangeIn(StrictModel):
    current_password: GivenPassword
    new_password: NewPassword
