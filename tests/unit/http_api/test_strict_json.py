"""A JSON body is read one way only: UTF-8 without a byte-order mark, each name once."""

from __future__ import annotations

import pytest

from http_api.strict_json import fault, is_json


@pytest.mark.parametrize(
    "body",
    [b'{"a": 1}', b'{"a": {"b": 1, "c": [{"b": 2}]}, "b": 1}', b"[1, 1]", '{"é": "ü"}'.encode()],
)
def test_a_body_read_one_way_passes(body: bytes) -> None:
    assert fault(body) is None


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b'{"role": "viewer", "role": "admin"}', 'the name "role" is given twice'),
        (b'{"a": {"b": 1, "b": 1}}', 'the name "b" is given twice'),
        (b'[{"x": 1}, {"y": 1, "y": 2}]', 'the name "y" is given twice'),
        ('{"a": 1}'.encode("utf-16"), "UTF-8 without a byte-order mark"),
        ('{"a": 1}'.encode("utf-16-le"), "UTF-8 without a byte-order mark"),
        ('{"a": 1}'.encode("utf-32-be"), "UTF-8 without a byte-order mark"),
        (b'\xef\xbb\xbf{"a": 1}', "UTF-8 without a byte-order mark"),
        (b'{"a": "\xff"}', "not UTF-8 (byte 7)"),
    ],
)
def test_what_could_be_read_two_ways_is_named(body: bytes, said: str) -> None:
    found = fault(body)
    assert found is not None and said in found


def test_what_is_not_json_is_left_to_the_routes() -> None:
    assert fault(b'{"a": 1,') is None
    assert fault(b"[" * 100_000) is None  # too deep for the parser: the routes refuse it


@pytest.mark.parametrize(
    ("content_type", "checked"),
    [
        (None, True),
        (b"application/json", True),
        (b"Application/JSON; charset=utf-8", True),
        (b"application/merge-patch+json", True),
        (b"application/x-www-form-urlencoded", False),
        (b"text/csv", False),
    ],
)
def test_which_bodies_are_checked(content_type: bytes | None, checked: bool) -> None:
    headers = {} if content_type is None else {b"content-type": content_type}
    assert is_json(headers) is checked
