"""The field types and the base model every HTTP body is made of (command_api/models.py and the
bodies of other routes)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from http_api.formats import VISIBLE, numbers_as_numbers

# Text that is more than whitespace (the document says so: a pattern, since the server strips it).
_VISIBLE = VISIBLE
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_VISIBLE)
]
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=_VISIBLE)
]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=_VISIBLE)
]
Prefix = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,5}$")]
HHMM = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")]


Count = Annotated[int, Field(ge=1, le=1_000_000)]
UpToAWeek = Annotated[int, Field(ge=1, le=7 * 86400)]


def _distinct(names: list[str]) -> list[str]:
    if len(set(names)) != len(names):
        raise ValueError(f"names must be distinct, got {names}")
    return names


# A list of names, each given once (the document says so: `uniqueItems`).
Names = Annotated[
    list[Label], AfterValidator(_distinct), Field(json_schema_extra={"uniqueItems": True})
]
MetaKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MetaValue = Annotated[str, StringConstraints(max_length=500)]
Metadata = Annotated[dict[MetaKey, MetaValue], Field(max_length=20)]
Channel = Literal["kiosk", "web", "phone", "qr", "api", "staff"]
QueueStatusIn = Literal["open", "paused", "closed"]
TransferPolicyIn = Literal["keep_enqueue_time", "back_of_line"]
BusyCounterPolicyIn = Literal["refuse", "close_previous"]


def _reject_nul(value: Any) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text may not contain NUL (\\u0000) characters")
    if isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(key)
            _reject_nul(item)
    elif isinstance(value, list):
        for item in value:
            _reject_nul(item)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=2000)
    # Fields a later release added: left out of an Idempotency-Key's request hash while they are
    # not given, so a retry of a request the older release recorded still matches it.
    ADDED_LATER: ClassVar[frozenset[str]] = frozenset()

    def hashed_json(self) -> str:
        """What an Idempotency-Key's request hash is made of."""
        unset = {name for name in self.ADDED_LATER if name not in self.model_fields_set}
        return self.model_dump_json(exclude=unset or None)

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        """PostgreSQL stores no NUL character in text or jsonb: refuse it here, as a 422; and a
        number is a JSON number (http_api.formats.numbers_as_numbers)."""
        _reject_nul(data)
        return numbers_as_numbers(cls, data)


# Surrounding white space is dropped before a pattern is matched (so "a@b.example\n" is the
# address it names, as a JSON Schema reader of the pattern would take it too).
_Trimmed = StringConstraints(strip_whitespace=True)


class ContactIn(StrictModel):
    """A person's details: sealed under a key of the ticket's own, erasable (docs/privacy.md)."""

    name: Annotated[str, _Trimmed, StringConstraints(max_length=200)] | None = None
    phone: Annotated[str, _Trimmed, StringConstraints(pattern=r"^\+?[0-9 ()./-]{3,32}$")] | None = (
        None
    )
    email: (
        Annotated[str, _Trimmed, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,190}$")] | None
    ) = None
    note: Annotated[str, _Trimmed, StringConstraints(max_length=500)] | None = None
