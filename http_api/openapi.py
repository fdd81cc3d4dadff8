"""The OpenAPI document, corrected where FastAPI's generated one would say something untrue.

* An optional header or query parameter is documented by FastAPI as `anyOf: [<type>, null]`,
  but a parameter is never JSON `null`: it is either sent or not. A client (or a fuzzer) that
  believes the document sends the text `null` (`If-Match: null`), which the server rightly
  refuses. Here such a parameter keeps only its real type; leaving it out means "none".
* No text the API takes or gives contains NUL (PostgreSQL stores none): every string of the
  bodies says so with a pattern.
* A path parameter never holds a slash or a backslash: sent encoded (`%2F`, `%5C`), the path
  could be read two ways and is refused (400 `ambiguous-path`, http_api/limits.py); each free
  string parameter of a path says so with a pattern, and each operation with one documents it.
* Each operation says who may call it (its `x-permission`, in words in its description, with
  the roles that hold it), needs no credentials when public (`security: []`), and documents the
  answers access control gives: 401, 403 and 429.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from access.permissions import PERMISSIONS, PUBLIC, ROLES, SELF, TICKET_TOKEN
from http_api.problems import PROBLEM_BASE, PROBLEMS, problem_responses


def truthful_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` return the corrected document (built once, then cached)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for schema in document.get("components", {}).get("schemas", {}).values():
                _no_nul(schema)
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    for parameter in operation.get("parameters", []):
                        if parameter.get("in") in ("query", "header", "cookie"):
                            parameter["schema"] = _without_null(parameter.get("schema", {}))
                    _declare_one_way_paths(operation)
                    _declare_access(operation)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


NO_SEPARATOR = r"^[^/\\]*$"


def _declare_one_way_paths(operation: dict[str, Any]) -> None:
    """No slash or backslash in a path parameter; the 400 of one sent encoded, documented."""
    in_path = [p for p in operation.get("parameters", []) if p.get("in") == "path"]
    if not in_path:
        return
    for parameter in in_path:
        schema = parameter.get("schema", {})
        if schema.get("type") == "string" and not {"enum", "const", "format"} & set(schema):
            if "pattern" in schema:
                schema.setdefault("allOf", []).append({"pattern": NO_SEPARATOR})
            else:
                schema["pattern"] = NO_SEPARATOR
    said = f"`{PROBLEM_BASE}ambiguous-path`: {PROBLEMS['ambiguous-path'][1]}"
    documented = operation.setdefault("responses", {}).get("400")
    if documented is None:
        (answer,) = problem_responses("ambiguous-path", common=()).values()
        operation["responses"]["400"] = {k: v for k, v in answer.items() if k != "model"}
    elif said not in documented.get("description", ""):
        documented["description"] = f"{documented.get('description', '')}; {said}".lstrip("; ")


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    choices = schema.get("anyOf")
    if not isinstance(choices, list):
        return schema
    kept = [c for c in choices if c != {"type": "null"}]
    if len(kept) != 1 or len(kept) == len(choices):
        return schema
    extra = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**kept[0], **extra}


NO_NUL = r"^[^\u0000]*$"


def _no_nul(schema: object) -> None:
    """Add the no-NUL rule to every free string below `schema` (and to every object's keys)."""
    if isinstance(schema, list):
        for item in schema:
            _no_nul(item)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and not {"enum", "const", "format"} & set(schema):
        if "pattern" in schema:
            schema.setdefault("allOf", []).append({"pattern": NO_NUL})
        else:
            schema["pattern"] = NO_NUL
    if schema.get("type") == "object" and "additionalProperties" in schema:
        names = schema.setdefault("propertyNames", {})
        if isinstance(names, dict):
            names.setdefault("pattern", NO_NUL)
    for key, value in schema.items():
        if key != "propertyNames" and isinstance(value, dict | list):
            _no_nul(value)


def _who(permission: str) -> str:
    if permission == PUBLIC:
        return "anyone, without credentials"
    if permission == SELF:
        return "a signed-in person, about themselves (an access token, not an API key)"
    roles = [role for role in ROLES if role in PERMISSIONS.get(permission, (frozenset(), ""))[0]]
    return f"`{permission}`: " + (", ".join(roles) or "the deployment's operator key")


def _declare_access(operation: dict[str, Any]) -> None:
    permission = operation.get("x-permission")
    if not isinstance(permission, str):
        return
    if permission == TICKET_TOKEN:
        bearer = str(operation.get("x-permission-bearer") or "read")
        who = f"the ticket's own token, or {_who(bearer)}"
    else:
        who = _who(permission)
    described = operation.get("description", "")
    operation["description"] = (described + "\n\n" if described else "") + f"**Who:** {who}."
    codes: tuple[str, ...] = ("rate-limited",)
    if permission != PUBLIC:
        codes = ("unauthorized", "forbidden", *codes)
    responses = operation.setdefault("responses", {})
    for status, answer in problem_responses(*codes, common=()).items():
        # The document is built already: the answer's schema is its $ref, not its model class.
        responses.setdefault(str(status), {k: v for k, v in answer.items() if k != "model"})
    if permission == PUBLIC:
        operation["security"] = []
