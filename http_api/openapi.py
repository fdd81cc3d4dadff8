"""The OpenAPI document, corrected where FastAPI's generated one would say something untrue.

An optional header or query parameter is documented by FastAPI as `anyOf: [<type>, null]`, but a
parameter is never JSON `null`: it is either sent or not. A client (or a fuzzer) that believes
the document sends the text `null` (`If-Match: null`), which the server rightly refuses. Here
such a parameter keeps only its real type; leaving it out is how one says "none".
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def truthful_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` return the corrected document (built once, then cached)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    for parameter in operation.get("parameters", []):
                        if parameter.get("in") in ("query", "header", "cookie"):
                            parameter["schema"] = _without_null(parameter.get("schema", {}))
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    choices = schema.get("anyOf")
    if not isinstance(choices, list):
        return schema
    kept = [c for c in choices if c != {"type": "null"}]
    if len(kept) != 1 or len(kept) == len(choices):
        return schema
    extra = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**kept[0], **extra}
