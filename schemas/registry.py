"""The Avro schemas shipped in this package: `schemas/<Type>.v<N>.avsc`, parsed with fastavro.

Files are read on first use (never at import) and kept for the life of the process. Each file
is parsed on its own, so the named types that several files define inline (Contact, QueueConfig,
OpeningHours) never clash.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from fastavro import parse_schema
from fastavro.types import Schema

from schemas.errors import UnknownEventType

NAMESPACE = "dev.vq.events"
_FILE_NAME = re.compile(r"^(?P<type>[A-Za-z][A-Za-z0-9]*)\.v(?P<version>[1-9][0-9]*)\.avsc$")


@dataclass(frozen=True, slots=True)
class SchemaFile:
    event_type: str
    version: int
    file_name: str
    # The file's text, for libraries other than fastavro (avro.schema.parse, code generators).
    text: str
    parsed: Schema


def file_name(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}.avsc"


@cache
def _load() -> dict[tuple[str, int], SchemaFile]:
    loaded: dict[tuple[str, int], SchemaFile] = {}
    for resource in files("schemas").iterdir():
        match = _FILE_NAME.match(resource.name)
        if match is None:
            continue
        event_type, version = match["type"], int(match["version"])
        text = resource.read_text(encoding="utf-8")
        raw: dict[str, Any] = json.loads(text)
        if raw.get("name") != event_type or raw.get("namespace") != NAMESPACE:
            raise ValueError(
                f"{resource.name}: record must be named {NAMESPACE}.{event_type}, "
                f"found {raw.get('namespace')}.{raw.get('name')}"
            )
        loaded[event_type, version] = SchemaFile(
            event_type, version, resource.name, text, parse_schema(raw)
        )
    if not loaded:
        raise RuntimeError("no .avsc files found in the schemas package (package data missing?)")
    return loaded


def versions() -> list[tuple[str, int]]:
    """Every shipped (event type, schema version), sorted."""
    return sorted(_load())


def schema_file(event_type: str, version: int) -> SchemaFile:
    try:
        return _load()[event_type, version]
    except KeyError:
        raise UnknownEventType(f"no schema for {event_type} version {version}") from None


def writer(event_type: str, version: int) -> Schema:
    """The parsed schema that data of `event_type` at `version` was written with."""
    return schema_file(event_type, version).parsed


def latest(event_type: str) -> tuple[int, Schema]:
    """The newest shipped version of `event_type` and its parsed schema (the reader schema)."""
    shipped = [version for (name, version) in _load() if name == event_type]
    if not shipped:
        raise UnknownEventType(f"no schema for event type {event_type!r}")
    newest = max(shipped)
    return newest, writer(event_type, newest)
