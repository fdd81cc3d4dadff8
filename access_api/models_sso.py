"""The bodies of the single sign-on routes (access_api/routes_sso.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# In the document too (no look-ahead: fuzzers generate from it), so any name it allows is taken.
_DOMAIN = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
PersonRole = Literal["admin", "manager", "staff", "viewer"]


Scope = Annotated[str, StringConstraints(pattern=r"^[!#-\[\]-~]{1,100}$")]
ClaimValue = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Domain = Annotated[str, StringConstraints(max_length=253, pattern=_DOMAIN, to_lower=True)]


class SsoSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(
        min_length=8,
        max_length=500,
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
    enabled: bool = True


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
