"""Request and response bodies of tenants and API keys. A key's secret is in two answers only:
the one that makes the key and the one that rotates it. Never in a URL, never in a list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from access.directory import MAX_OVERLAP, IssuedKey, KeyRecord
from access.permissions import PERMISSIONS, Role
from http_api.formats import Moment, numbers_as_numbers

if TYPE_CHECKING:
    PermissionName = str
else:
    PermissionName = Literal[tuple(PERMISSIONS)]

# Every character Python strips as whitespace (`str.isspace`), spelled out: regex engines
# disagree on what `\s` is (ECMAScript's has no U+0085, Python's has), and the document's pattern
# must mean to every client exactly what the server checks.
SPACE = "\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Text with something visible in it, checked as sent (as the document says: 200 characters at
# most with the whitespace around it), and stored without that whitespace.
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=f"[^{SPACE}]"),
    AfterValidator(str.strip),
]


def _distinct(names: list[str]) -> list[str]:
    if len(set(names)) != len(names):
        raise ValueError("each permission once")
    return names


Scopes = Annotated[
    list[PermissionName],
    AfterValidator(_distinct),
    Field(min_length=1, max_length=len(PERMISSIONS), json_schema_extra={"uniqueItems": True}),
]


def _no_nul(value: Any) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text may not contain NUL (\\u0000) characters")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=2000)

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        """PostgreSQL stores no NUL character: refuse it here, as a 422; and a number is a JSON
        number (http_api.formats.numbers_as_numbers)."""
        if isinstance(data, dict):
            for item in data.values():
                _no_nul(item)
        return numbers_as_numbers(cls, data)


class TenantCreateIn(Body):
    name: Name


class KeyCreateIn(Body):
    name: Name
    role: Role
    scopes: Scopes | None = Field(
        default=None,
        description="Limit the key to these permissions, each held by its role (409 "
        "`rule-violated` otherwise); leave out for all of its role's.",
    )
    expires_at: Moment | None = Field(
        default=None,
        description="When the key stops working (in the future, at most 100 years ahead); "
        "leave out for a key that does not expire.",
    )


class KeyRotateIn(Body):
    overlap_s: Annotated[int, Field(ge=0, le=int(MAX_OVERLAP.total_seconds()))] = Field(
        default=86400,
        description="How long the secret before keeps working (0: it stops at once).",
    )


class KeyOut(BaseModel):
    key_id: str
    tenant_id: str
    name: str
    role: Role
    scopes: list[str] | None = Field(
        description="The permissions it is limited to; null: all of its role's."
    )
    expires_at: datetime | None = Field(description="null: it does not expire")
    expired: bool
    created_at: datetime
    created_by: str | None = Field(description='Who made it: "key:<id>", "user:<id>", "operator"')
    last_used_at: datetime | None = Field(
        description="Up to a few seconds behind on other API replicas (uses are counted in "
        "memory and written in batches)."
    )
    use_count: int
    rotated_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="During a rotation's overlap: when the secret before the last rotation stops "
        "working; null otherwise."
    )

    @classmethod
    def of(cls, record: KeyRecord, now: datetime | None = None) -> KeyOut:
        key = record.key
        moment = now or datetime.now(UTC)
        return cls(
            key_id=key.key_id,
            tenant_id=key.tenant_id,
            name=key.name,
            role=key.role,
            scopes=None if key.scopes is None else sorted(key.scopes),
            expires_at=key.expires_at,
            expired=key.expires_at is not None and key.expires_at <= moment,
            created_at=record.created_at,
            created_by=record.created_by,
            last_used_at=record.last_used_at,
            use_count=record.use_count,
            rotated_at=record.rotated_at,
            previous_secret_expires_at=record.previous_until,
        )


class KeyIssuedOut(KeyOut):
    secret: str = Field(description="The key (`Authorization: Bearer vq_...`): shown only now.")

    @classmethod
    def issued(cls, issued: IssuedKey) -> KeyIssuedOut:
        return cls(**KeyOut.of(issued.record).model_dump(), secret=issued.secret)


class TenantOut(BaseModel):
    tenant_id: str
    name: str
    admin_key: KeyIssuedOut
