"""JSON bodies read one way only (RFC 8259): UTF-8 without a byte-order mark, and no name twice
in one object.

Python's parser takes UTF-16 and UTF-32 bodies (it guesses the encoding from the first bytes)
and keeps the last of two equal names: `{"role": "viewer", "role": "admin"}` is an admin here and
a viewer to a proxy, a log or a policy engine that keeps the first. Such a body is refused whole
(a 400 `malformed-request` that says what is wrong), before the routes read it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Media types whose bodies are JSON: application/json and any +json (problem+json, merge-patch).
_JSON_SUFFIX = "+json"
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


class DuplicateName(ValueError):
    pass


def is_json(headers: Mapping[bytes, bytes]) -> bool:
    """Whether the request says its body is JSON (a body without a Content-Type is read as JSON
    by the routes, so it is checked too)."""
    declared = headers.get(b"content-type")
    if declared is None:
        return True
    media = declared.split(b";", 1)[0].strip().lower().decode("latin-1")
    return media == "application/json" or media.endswith(_JSON_SUFFIX)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, value in pairs:
        if name in found:
            raise DuplicateName(name)
        found[name] = value
    return found


def fault(body: bytes) -> str | None:
    """What makes `body` not one JSON text read one way, or None (also when it is not JSON at
    all: the routes say that in their own words)."""
    if body.startswith(_BOMS) or (len(body) >= 2 and (body[0] == 0 or body[1] == 0)):
        return "a JSON body is UTF-8 without a byte-order mark (RFC 8259 section 8.1)"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the body is not UTF-8 (byte {exc.start})"
    try:
        json.loads(text, object_pairs_hook=_unique)
    except DuplicateName as exc:
        return f"the name {json.dumps(str(exc))} is given twice in one object"
    except (ValueError, RecursionError):
        return None
    return None
