"""Values whose form the OpenAPI document states exactly as the server checks it.

* A time zone is an enum of the IANA names this machine has: a free string would let clients (and
  fuzzers) send names the server then refuses.
* A moment is an RFC 3339 date-time with its offset, as `format: date-time` says: the parser
  underneath would also take a number of seconds or a date alone, which the document does not
  offer and a client should not rely on.
* A number is a JSON number: the parser underneath would also take `true` as 1 and `"10"` as 10
  (`numbers_as_numbers`, for the request bodies' models).
"""

from __future__ import annotations

import re
import types
from datetime import datetime
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Union, get_args, get_origin
from zoneinfo import available_timezones

from pydantic import (
    BaseModel,
    BeforeValidator,
    PlainSerializer,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

# One character that is more than whitespace, as the server and the document both read it: Python
# strips `\x1c-\x1f` and `\x85` (NEL) as whitespace, the document's ECMAScript `\s` does not, so a
# pattern without them would let a client send text the server then takes for empty.
VISIBLE = r"[^\s\x1c-\x1f\x85]"
# An http(s) URL: host, optional port, then a path of such characters.
WEB_URL = rf"^https?://[A-Za-z0-9.-]+(:[0-9]{{1,5}})?(/{VISIBLE}*)?$"

_NAMES = sorted(available_timezones())

# A `str` enum, so the document gets one `TimeZoneName` schema that every use refers to.
TimeZoneName = Enum(  # type: ignore[misc]
    "TimeZoneName",
    [(name, name) for name in _NAMES],
    type=str,
    module=__name__,
)
TimeZoneName.__doc__ = "An IANA time zone name (e.g. Europe/Paris)."


def _name(value: Any, handler: ValidatorFunctionWrapHandler) -> str:
    """The plain name, or a one-line refusal (not the list of every zone)."""
    try:
        return str(handler(value).value)
    except ValidationError:
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name, e.g. Europe/Paris"
        ) from None


if TYPE_CHECKING:
    TimeZone = str
else:  # validated as the enum (what the document shows), handed over as the plain name
    TimeZone = Annotated[TimeZoneName, WrapValidator(_name), PlainSerializer(str, return_type=str)]


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def _rfc3339(value: Any) -> Any:
    # Text only (or a datetime made in code): pydantic would read a number as Unix seconds,
    # which the document (a string) does not offer, and a client sending one has a bug.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError(
            "a moment is an RFC 3339 date-time with its offset, e.g. 2026-03-04T08:00:00+01:00"
        )
    return value


# An aware datetime, given as RFC 3339 text.
Moment = Annotated[datetime, BeforeValidator(_rfc3339)]


def numbers_as_numbers(model: type[BaseModel], data: Any) -> Any:
    """Refuse a boolean or a text where `model` (a request body's) has a number: pydantic's lax
    mode would read `true` as 1 and `"10"` as 10, which the document (`integer`, `number`) does
    not offer. Its nested models check their own fields."""
    if isinstance(data, dict):
        for name, listed in _number_fields(model):
            value = data.get(name)
            items = value if listed and isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, bool | str):
                    said = "holds JSON numbers" if listed else "is a JSON number"
                    shown = repr(item)[:40]  # a text may be long: enough of it to recognise
                    raise ValueError(f"{name} {said}, not {type(item).__name__} {shown}")
    return data


@cache
def _number_fields(model: type[BaseModel]) -> frozenset[tuple[str, bool]]:
    """The names of `model`'s number fields, each with whether it is a list of numbers."""
    found = set()
    for name, info in model.model_fields.items():
        if _is_number(info.annotation):
            found.add((info.alias or name, False))
        elif _is_number(_listed(info.annotation)):
            found.add((info.alias or name, True))
    return frozenset(found)


def _is_number(annotation: Any) -> bool:
    bare = _bare(annotation)
    if get_origin(bare) in (Union, types.UnionType):  # int | float, say
        return all(_is_number(a) for a in get_args(bare) if a is not type(None))
    return bare in (int, float)


def _listed(annotation: Any) -> Any:
    """What a list (or an optional list) holds; None for anything else."""
    bare = _bare(annotation)
    return get_args(bare)[0] if get_origin(bare) is list else None


def _bare(annotation: Any) -> Any:
    """The annotation without its Annotated metadata, and an optional one without its None."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            kinds = [a for a in get_args(annotation) if a is not type(None)]
            if len(kinds) != 1:
                return annotation
            annotation = kinds[0]
        else:
            return annotation
