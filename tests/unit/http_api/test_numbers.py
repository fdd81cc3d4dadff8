"""A number in a request body is a JSON number (http_api.formats.numbers_as_numbers): pydantic's
lax mode alone would read `true` as 1 and `"10"` as 10, which the document does not offer."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field, ValidationError

from command_api.fields import StrictModel


class Inner(StrictModel):
    rate: float


class Body(StrictModel):
    minutes: Annotated[int, Field(ge=0)] | None = None
    share: float = 0.5
    counts: Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=4)] | None = None
    label: str | None = None
    inner: Inner | None = None


@pytest.mark.parametrize(
    "body",
    [
        {"minutes": 10, "share": 1, "counts": [0, 3], "label": "10", "inner": {"rate": 2}},
        {"minutes": None, "counts": None},
        {},
    ],
)
def test_numbers_and_text_where_they_belong_pass(body: dict[str, object]) -> None:
    Body.model_validate(body)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"minutes": True}, "minutes is a JSON number, not bool True"),
        ({"minutes": "10"}, "minutes is a JSON number, not str '10'"),
        ({"share": "0.5"}, "share is a JSON number, not str '0.5'"),
        ({"counts": [1, "2"]}, "counts holds JSON numbers, not str '2'"),
        ({"counts": [False]}, "counts holds JSON numbers, not bool False"),
        ({"inner": {"rate": "2"}}, "rate is a JSON number, not str '2'"),
        ({"minutes": "9" * 1000}, r"minutes is a JSON number, not str '9{39} \["),
    ],
)
def test_a_bool_or_a_text_for_a_number_is_refused_by_name(
    body: dict[str, object], said: str
) -> None:
    with pytest.raises(ValidationError, match=said):
        Body.model_validate(body)
