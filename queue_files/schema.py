"""A value checked by `jsonschema` against the API's own schema (2020-12, in its OpenAPI 3.1
document, `/openapi.json`): every failure, with a readable path and a message for a person."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from reprlib import repr as _short  # 1020, 'Mars/Olympus', [1, 2, 3, 4, 5, 6, ...]
from typing import Any, NamedTuple

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

Path = tuple[str | int, ...]
Schema = dict[str, Any]
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # a field name shown as `.name`, not `['name']`
DOCUMENT = "urn:vq:openapi"  # the OpenAPI document's URI in the Registry; its refs are local
_CHECKED = "x-vq-checked"  # the schema checked, put in the document: its `#/...` refs work
_ROOT = {"$ref": f"{DOCUMENT}#/{_CHECKED}"}
ENUM_LISTED = 8  # an enum of more values is not listed in a message (time zones: hundreds)
_SIZES = {"Length": "characters", "Items": "items", "Properties": "fields"}
_TYPES = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string"}
_TYPES |= {list: "array", dict: "object"}


class Failure(NamedTuple):
    path: Path
    message: str


def show_path(path: Path) -> str:
    """`opening_hours[0].closes` for ("opening_hours", 0, "closes")."""
    shown = (f".{p}" if isinstance(p, str) and _PLAIN.fullmatch(p) else f"[{p!r}]" for p in path)
    return "".join(shown).removeprefix(".")


def _registry(schema: Schema, document: Schema) -> Registry[Any]:
    resource = DRAFT202012.create_resource({**document, _CHECKED: schema})
    return Registry().with_resources([(DOCUMENT, resource)])


def resolve(schema: Schema, document: Schema) -> Schema:
    """The schema a `$ref` ("#/components/schemas/X") names, followed to the end."""
    resolved = _registry(schema, document).resolver().lookup(_ROOT["$ref"])
    while isinstance(resolved.contents, dict) and "$ref" in resolved.contents:
        resolved = resolved.resolver.lookup(resolved.contents["$ref"])
    return dict(resolved.contents)


def validate(value: Any, schema: Schema, document: Schema) -> list[Failure]:
    """Every way `value` fails `schema` (refs resolved in `document`), by path; [] if valid."""
    checker = Draft202012Validator(_ROOT, registry=_registry(schema, document))
    found = [failure for error in checker.iter_errors(value) for failure in _failures(error)]
    return sorted(found, key=lambda f: [(isinstance(p, str), p) for p in f.path])


def _failures(error: ValidationError) -> Iterator[Failure]:
    path = tuple(error.absolute_path)
    if error.context:  # anyOf/oneOf: the alternatives of the value's own type say what is wrong
        mistyped = [e for e in error.context if e.validator == "type" and not e.relative_path]
        other = {e.relative_schema_path[0] for e in mistyped}  # alternatives for another type
        typed = [e for e in error.context if e.relative_schema_path[0] not in other]
        if len({e.relative_schema_path[0] for e in typed}) == 1:
            yield from (failure for sub in typed for failure in _failures(sub))
        elif typed:
            yield from _failures(best_match(typed) or error)
        else:  # `integer or null`, given text
            yield Failure(path, _wrong_type(error.instance, [e.validator_value for e in mistyped]))
    elif error.validator == "additionalProperties" and error.validator_value is False:
        known = list(error.schema.get("properties", {}))
        for key in [k for k in error.instance if isinstance(k, str) and k not in known]:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield Failure((*path, key), f"unknown field {key!r}{hint}")
    elif list(error.relative_schema_path)[-2:-1] == ["propertyNames"]:
        yield Failure((*path, error.instance), f"field name: {_message(error)}")
    else:
        yield Failure(path, _message(error))


def _message(error: ValidationError) -> str:
    keyword, wanted, value = error.validator, error.validator_value, error.instance
    if keyword == "type":
        return _wrong_type(value, [wanted])
    if keyword == "enum" and len(wanted) > ENUM_LISTED:
        about = f": {error.schema['description']}" if error.schema.get("description") else ""
        return f"{_short(value)} is not one of the {len(wanted)} allowed values{about}"
    if keyword == "pattern" and not value.strip():
        return "must not be empty or only whitespace"
    if keyword[3:] in _SIZES:  # minLength, maxItems, ...
        limit = "at least {} needed" if keyword.startswith("min") else "at most {} allowed"
        return f"has {len(value)} {_SIZES[keyword[3:]]}, {limit.format(wanted)}"
    if keyword == "uniqueItems":
        again = next(v for i, v in enumerate(value) if v in value[:i])
        return f"{_short(again)} is given more than once (each at most once)"
    return str(error.message)


def _wrong_type(value: Any, wanted: list[str | list[str]]) -> str:
    names = [n for w in wanted for n in ([w] if isinstance(w, str) else w)]
    message = f"expected {' or '.join(names)}, got {type_name(value)} {_short(value)}"
    if "string" in names and isinstance(value, int | float | bool):
        message += " (in YAML, quote it)"
    return message


def type_name(value: Any) -> str:
    """The JSON type of a parsed value; 1.0 is an integer, as JSON Schema counts."""
    if isinstance(value, float) and value.is_integer():
        return "integer"
    return _TYPES.get(type(value), type(value).__name__)  # a YAML set, say: no JSON type
