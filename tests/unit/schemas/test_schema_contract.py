"""The .avsc files and the Python event types describe the same data, so neither can drift.

Each newest schema must be the envelope followed by the dataclass's fields, in order, with the
Avro type that the mapping produces for each Python type (recursively through PersonalData, QueueConfig
and OpeningHours), optional exactly where Python allows None.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import avro.schema
import pytest

from domain.config import QueueConfig
from domain.events import EVENT_TYPES
from schemas import codec, registry
from schemas.errors import UnknownEventType

ENVELOPE_TYPES: dict[str, Any] = {
    "event_id": "string",
    "tenant_id": "string",
    "queue_id": "string",
    "stream_version": "long",
    "occurred_at": {"type": "long", "logicalType": "timestamp-micros"},
    "command_id": "string",
    "correlation_id": "string",
    "actor": "string",
}
REPO = Path(__file__).resolve().parents[3]


def _raw(event_type: str, version: int) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(registry.schema_file(event_type, version).text)
    return raw


def _is_optional(hint: Any) -> bool:
    return get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)


def _assert_type(hint: Any, avro_type: Any, path: str) -> None:
    """`avro_type` (raw JSON) is the Avro type of the Python type `hint`."""
    origin = get_origin(hint)
    if _is_optional(hint):
        (inner,) = (arg for arg in get_args(hint) if arg is not type(None))
        assert isinstance(avro_type, list), f"{path}: optional in Python, not in Avro"
        assert len(avro_type) == 2, f"{path}: {avro_type}"
        assert avro_type[0] == "null", f"{path}: null must come first (default null)"
        _assert_type(inner, avro_type[1], path)
        return
    assert not (isinstance(avro_type, list) and "null" in avro_type), (
        f"{path}: optional in Avro, required in Python"
    )
    if hint is str or origin is Literal:
        # Literal values travel as strings, not enums: adding a value is not a breaking change.
        assert avro_type == "string", f"{path}: {avro_type}"
    elif hint is bool:
        assert avro_type == "boolean", f"{path}: {avro_type}"
    elif hint is int:
        assert avro_type == "long", f"{path}: {avro_type}"
    elif hint is datetime:
        assert avro_type == {"type": "long", "logicalType": "timestamp-micros"}, path
    elif origin is tuple:
        assert avro_type["type"] == "array", f"{path}: {avro_type}"
        _assert_type(get_args(hint)[0], avro_type["items"], f"{path}[]")
    elif origin is dict:
        assert get_args(hint) == (str, str), path
        assert avro_type == {"type": "map", "values": "string"}, f"{path}: {avro_type}"
    elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
        assert avro_type["type"] == "record", f"{path}: {avro_type}"
        assert (avro_type["namespace"], avro_type["name"]) == ("dev.vq.types", hint.__name__)
        _assert_fields(hint, avro_type["fields"], path)
    else:
        pytest.fail(f"{path}: no Avro mapping for {hint!r}")


def _assert_fields(
    cls: type[Any], avro_fields: list[dict[str, Any]], path: str, skip: tuple[str, ...] = ()
) -> None:
    """The Avro fields are the dataclass's fields (but `skip`), in order, with matching types."""
    hints = get_type_hints(cls)
    python_fields = [f.name for f in dataclasses.fields(cls) if f.name not in skip]
    assert [f["name"] for f in avro_fields] == python_fields, path
    for name, avro_field in zip(python_fields, avro_fields, strict=True):
        where = f"{path}.{name}"
        hint = hints[name]
        _assert_type(hint, avro_field["type"], where)
        assert avro_field.get("doc"), f"{where}: every field is documented"
        if _is_optional(hint):
            assert avro_field.get("default", "absent") is None, f"{where}: default must be null"
        elif get_origin(hint) is dict:
            assert avro_field.get("default") == {}, f"{where}: default must be {{}}"
        elif "default" in avro_field:
            # A field a later version added needs a default (what older events read); it must
            # be the one Python gives, so a new queue and an old event mean the same thing.
            assert avro_field["default"] == _python_default(cls, name), f"{where}: default"


def _python_default(cls: type[Any], name: str) -> Any:
    (found,) = (f for f in dataclasses.fields(cls) if f.name == name)
    assert found.default is not dataclasses.MISSING, f"{cls.__name__}.{name} has no default"
    return found.default


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_newest_schema_is_the_envelope_then_the_dataclass_fields(event_type: str) -> None:
    cls = EVENT_TYPES[event_type]
    version, _ = registry.latest(event_type)
    raw = _raw(event_type, version)
    envelope = raw["fields"][: len(ENVELOPE_TYPES)]
    payload = raw["fields"][len(ENVELOPE_TYPES) :]
    hints = get_type_hints(cls)
    # QueueCreated repeats queue_id and tenant_id: the envelope fields carry them.
    shared = [f.name for f in dataclasses.fields(cls) if f.name in ENVELOPE_TYPES]

    assert version == cls.VERSION
    assert (raw["namespace"], raw["name"]) == ("dev.vq.events", event_type)
    assert raw.get("doc")
    assert [(f["name"], f["type"]) for f in envelope] == list(ENVELOPE_TYPES.items())
    assert tuple(ENVELOPE_TYPES) == codec.ENVELOPE_FIELDS
    for name in shared:
        assert hints[name] is str, f"{event_type}.{name} must have the envelope's type"
    _assert_fields(cls, payload, event_type, skip=tuple(shared))


@pytest.mark.parametrize(("event_type", "version"), registry.versions())
def test_every_schema_file_parses_alone_with_both_libraries(event_type: str, version: int) -> None:
    text = registry.schema_file(event_type, version).text

    parsed = avro.schema.parse(text)

    assert isinstance(parsed, avro.schema.RecordSchema)
    assert parsed.fullname == f"dev.vq.events.{event_type}"
    assert registry.writer(event_type, version)
    assert registry.schema_file(event_type, version).file_name == f"{event_type}.v{version}.avsc"


def test_every_event_type_has_contiguous_versions_up_to_the_dataclass_version() -> None:
    shipped: dict[str, list[int]] = {}
    for event_type, version in registry.versions():
        shipped.setdefault(event_type, []).append(version)

    assert shipped.keys() == EVENT_TYPES.keys()
    for event_type, versions in shipped.items():
        assert versions == list(range(1, EVENT_TYPES[event_type].VERSION + 1)), event_type
    assert shipped["TicketEnqueued"] == [1, 2, 3]


def test_schemas_are_package_data_found_through_importlib_resources() -> None:
    shipped = sorted(
        resource.name for resource in files("schemas").iterdir() if resource.name.endswith(".avsc")
    )
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))

    assert shipped == sorted(f"{t}.v{v}.avsc" for t, v in registry.versions())
    assert "*.avsc" in pyproject["tool"]["setuptools"]["package-data"]["schemas"]


def test_unknown_type_or_version_is_a_clear_error() -> None:
    with pytest.raises(UnknownEventType, match="TicketTeleported"):
        registry.latest("TicketTeleported")
    with pytest.raises(UnknownEventType, match="TicketCalled version 7"):
        registry.writer("TicketCalled", 7)


@pytest.mark.parametrize(
    "drift",
    [
        pytest.param(lambda fields: fields[:-2] + fields[-1:], id="field missing"),
        pytest.param(lambda fields: [fields[1], fields[0], *fields[2:]], id="order"),
        pytest.param(
            lambda fields: [*fields[:-2], {**fields[-2], "type": "string"}, fields[-1]],
            id="optional in Python only",
        ),
        pytest.param(
            lambda fields: [
                {**fields[0], "type": ["null", "string"], "default": None},
                *fields[1:],
            ],
            id="optional in Avro only",
        ),
        pytest.param(
            lambda fields: [*fields[:3], {**fields[3], "type": "int"}, *fields[4:]],
            id="int instead of long",
        ),
    ],
)
def test_the_contract_check_catches_drift(drift: Any) -> None:
    """The check above is not vacuous: each kind of drift in TicketEnqueued v3 fails it."""
    payload = _raw("TicketEnqueued", 3)["fields"][len(ENVELOPE_TYPES) :]
    _assert_fields(EVENT_TYPES["TicketEnqueued"], payload, "ok")

    with pytest.raises(AssertionError):
        _assert_fields(EVENT_TYPES["TicketEnqueued"], drift(payload), "drifted")


def test_a_default_must_be_the_one_python_gives() -> None:
    """QueueConfig's busy_counter_policy defaults to "refuse" in both; any other is drift."""
    config = next(f for f in _raw("QueueCreated", 4)["fields"] if f["name"] == "config")
    fields = config["type"]["fields"]
    _assert_fields(QueueConfig, fields, "ok")

    for drifted in ("close_previous", None):
        changed = [
            {**f, "default": drifted} if f["name"] == "busy_counter_policy" else f for f in fields
        ]
        with pytest.raises(AssertionError):
            _assert_fields(QueueConfig, changed, "drifted")
