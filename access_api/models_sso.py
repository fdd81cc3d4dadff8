"""The bodies of the single sign-on routes (access_api/routes_sso.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

# In the document too (no look-ahead: fuzzers generate from it), so any name it allows is taken.
_DOMAIN = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
PersonRole = Literal["admin", "manager", "staff", "viewer"]


# Python's `$` also matches before a last newline: what it lets through is stripped after.
Scope = Annotated[
    str, StringConstraints(pattern=r"^[!#-\[\]-~]{1,100}$"), AfterValidator(str.strip)
]
ClaimValue = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Domain = Annotated[
    str,
    StringConstraints(max_length=253, pattern=_DOMAIN, to_lower=True),
    AfterValidator(str.strip),
]
# An http(s) URL without user, query or fragment (the server checks the rest: https, or plain
# http at an address the operator allowed; a host that answers with a discovery document).
_ISSUER = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\x00-\x20\x7f]+(/[^?#\x00-\x20\x7f]*)?$"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class SsoSettingsIn(BaseModel):
    # The document's patterns mean what Python's `re` says (as the fuzzers and most validators
    # read them), here too.
    model_config = ConfigDict(extra="forbid", regex_engine="python-re")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        """PostgreSQL stores no NUL in text or JSON: refuse it here, as a 422."""
        if _has_nul(data):
            raise ValueError("text may not contain NUL (\\u0000) characters")
        return data

    issuer: Annotated[str, AfterValidator(str.strip)] = Field(
        min_length=8,
        max_length=500,
        pattern=_ISSUER,
        description="The provider's issuer identifier, exactly as its ID tokens' `iss` (its "
        "discovery document is read from `<issuer>/.well-known/openid-configuration`).",
        examples=["https://login.example.com/realms/clinic"],
    )
    client_id: str = Field(min_length=1, max_length=255)
    client_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="Write-only: never returned. Omit it to keep the one stored.",
    )
    scopes: list[Scope] = Field(
        default_factory=list,
        max_length=20,
        description="Scopes asked for besides openid, email and profile (the role claim's "
        "namesake scope is asked for when the provider offers one).",
    )
    role_claim: str = Field(
        default="groups",
        min_length=1,
        max_length=200,
        description="The claim whose values map to roles; a dotted path reaches into objects "
        "(`realm_access.roles`).",
    )
    role_map: dict[ClaimValue, PersonRole] = Field(
        default_factory=dict,
        max_length=200,
        description="Claim value -> role; when several values map, the most privileged wins.",
        examples=[{"queue-managers": "manager", "front-desk": "staff"}],
    )
    default_role: PersonRole | None = Field(
        default=None,
        description="The role of a person none of whose values is mapped; null: refused.",
    )
    email_domains: list[Domain] = Field(
        default_factory=list,
        max_length=50,
        description="Only people with a (verified) email at these domains; empty: any.",
    )
    enabled: StrictBool = True  # true or false, never "yes" or 1


class SsoSettingsOut(BaseModel):
    issuer: str
    client_id: str
    client_secret_set: bool = Field(description="The secret itself is never shown.")
    scopes: list[str]
    role_claim: str
    role_map: dict[str, str]
    default_role: str | None
    email_domains: list[str]
    enabled: bool
    updated_at: datetime
    redirect_uri: str = Field(description="Register this redirect URI with the provider.")
    start_url: str = Field(description="Where the organisation's people start signing in.")


class SsoUser(BaseModel):
    user_id: str
    email: str
    name: str
    role: str


class SsoSignedIn(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    user: SsoUser
