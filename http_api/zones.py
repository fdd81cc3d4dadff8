"""Time zone names as the OpenAPI document lists them: an enum of what this server accepts.

A free string would let clients (and fuzzers) send names the server then refuses; the enum makes
the document say exactly which names work. It is the IANA database this machine has.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import available_timezones

from pydantic import ValidationError, ValidatorFunctionWrapHandler, WrapValidator

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
    TimeZone = Annotated[TimeZoneName, WrapValidator(_name)]
