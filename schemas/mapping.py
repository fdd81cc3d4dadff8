"""Explicit mapping between domain events and plain records, and the upcasting of old versions.

A record is an event's payload as plain values: str, int, bool, None, lists and dicts, plus aware
`datetime`s (the event store writes those to JSONB as ISO-8601 strings; Avro writes them as
timestamp-micros). The conversion is driven by each dataclass's fields and type hints, which are
the single description of a payload in Python; `tests/unit/schemas/test_schema_contract.py` proves
that every .avsc file describes the same fields with the same types, so the two cannot drift.

Reading is strict: a record must have exactly the dataclass's fields with values of the right
types. Records of an older schema version are first lifted by `upcast`, one small pure function
per version step, never by guessing defaults here.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from domain.events import EVENT_TYPES, QueueEvent
from schemas.errors import UnknownEventType

Record = dict[str, Any]
Upcaster = Callable[[Record], Record]


def event_class(event_type: str) -> type[QueueEvent]:
    try:
        return EVENT_TYPES[event_type]
    except KeyError:
        raise UnknownEventType(f"unknown event type {event_type!r}") from None


def current_version(event_type: str) -> int:
    return event_class(event_type).VERSION


def payload_fields(event_type: str) -> tuple[str, ...]:
    """The payload's field names in declaration order (the order of the Avro fields)."""
    return tuple(_hints(event_class(event_type)))


# -- domain -> record ---------------------------------------------------------------------------


def event_to_record(event: QueueEvent) -> Record:
    """The payload of `event` as a plain record (no envelope, no type name, no version)."""
    return {f.name: _plain(getattr(event, f.name), f.name) for f in dataclasses.fields(event)}


_SCALARS = frozenset({str, int, bool, float, type(None)})


def _plain(value: object, path: str) -> Any:
    if type(value) in _SCALARS:  # most fields: nothing to convert
        return value
    if isinstance(value, datetime):
        return _require_aware(value, path)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name), f"{path}.{f.name}")
            for f in dataclasses.fields(value)
        }
    if isinstance(value, tuple):
        return [_plain(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: _plain(item, f"{path}[{key!r}]") for key, item in value.items()}
    return value


# -- record -> domain ---------------------------------------------------------------------------


def record_to_event(event_type: str, record: Mapping[str, Any]) -> QueueEvent:
    """The current dataclass of `event_type` from a record of the CURRENT schema version.

    Datetime fields accept aware `datetime`s or ISO-8601 strings with an offset; tuple fields
    accept lists. Raises `UnknownEventType`, or `TypeError`/`ValueError` naming the bad field.
    """
    event: QueueEvent = _build(event_class(event_type), record, event_type)
    return event


def upcast_to_event(event_type: str, schema_version: int, record: Mapping[str, Any]) -> QueueEvent:
    """`record_to_event` for a record stored at any shipped schema version."""
    return record_to_event(event_type, upcast(event_type, schema_version, record))


# Resolved once per class: get_type_hints evaluates the string annotations every call.
_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    if cls not in _HINTS:
        hints = get_type_hints(cls)
        _HINTS[cls] = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    return _HINTS[cls]


def _build(cls: type[Any], record: object, path: str) -> Any:
    if not isinstance(record, Mapping):
        raise TypeError(f"{path}: expected a record (mapping), got {type(record).__name__}")
    hints = _hints(cls)
    missing = [name for name in hints if name not in record]
    unexpected = sorted(str(name) for name in record if name not in hints)
    if missing or unexpected:
        raise ValueError(
            f"{path}: record does not match {cls.__name__}: "
            f"missing fields {missing}, unexpected fields {unexpected}"
        )
    return cls(
        **{name: _value(hint, record[name], f"{path}.{name}") for name, hint in hints.items()}
    )


def _value(hint: Any, value: object, path: str) -> Any:
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        args = get_args(hint)
        if value is None and type(None) in args:
            return None
        (inner,) = (arg for arg in args if arg is not type(None))
        return _value(inner, value, path)
    if value is None:
        raise TypeError(f"{path}: must not be null")
    if origin is Literal:
        if value not in get_args(hint):
            raise ValueError(f"{path}: {value!r} is not one of {list(get_args(hint))}")
        return value
    if origin is tuple:
        item_hint = get_args(hint)[0]
        if not isinstance(value, list | tuple):
            raise TypeError(f"{path}: expected a list, got {type(value).__name__}")
        return tuple(_value(item_hint, item, f"{path}[{i}]") for i, item in enumerate(value))
    if origin is dict:
        key_hint, item_hint = get_args(hint)
        if not isinstance(value, Mapping):
            raise TypeError(f"{path}: expected a map, got {type(value).__name__}")
        return {
            _value(key_hint, key, path): _value(item_hint, item, f"{path}[{key!r}]")
            for key, item in value.items()
        }
    if hint is datetime:
        return _datetime(value, path)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    if hint is bool or hint is str:
        if not isinstance(value, hint):
            raise TypeError(f"{path}: expected {hint.__name__}, got {type(value).__name__}")
        return value
    if hint is int:
        # bool is an int subclass; True is never a valid count.
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{path}: expected int, got {type(value).__name__}")
        return value
    raise TypeError(f"{path}: no mapping for type {hint!r}")


def _datetime(value: object, path: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{path}: {value!r} is not an ISO-8601 date-time") from None
    if not isinstance(value, datetime):
        raise TypeError(
            f"{path}: expected a datetime or ISO-8601 string, got {type(value).__name__}"
        )
    return _require_aware(value, path)


def _require_aware(value: datetime, path: str) -> datetime:
    # A naive time means a different instant on every machine that reads it.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{path}: datetime must carry a time zone offset, got {value.isoformat()}")
    return value


# -- upcasting ----------------------------------------------------------------------------------


def _ticket_enqueued_v1_to_v2(record: Record) -> Record:
    """Version 2 added the customer's preferred language; nobody could give one before."""
    return {**record, "language": None}


def _ticket_transferred_in_v1_to_v2(record: Record) -> Record:
    """Version 2 carries the language over; version 1 lost it, so it is unknown."""
    return {**record, "language": None}


def _contact_dropped(record: Record) -> Record:
    """Version 3 of TicketEnqueued and TicketTransferredIn seals a person's details (`personal`)
    and writes no `contact`. An older event's contact, in the clear, is dropped when it is read:
    nothing folds it, and what reads events (the relay's topic records, exports, the fold's
    snapshots) must not spread personal data that can never be erased. The stored row keeps it
    (see docs/privacy.md)."""
    return {**record, "contact": None, "personal": None}


def _config_v1_to_v2(record: Record) -> Record:
    """Version 2 of QueueCreated and QueueReconfigured added the busy counter policy. A queue
    configured before it gets "refuse", the Avro default (the two paths must agree): it never
    writes an event nobody asked for, and a second call at a busy counter, which these queues
    made silently, is now refused with a clear answer. Replaying their events needs no policy
    (only `decide` reads it)."""
    config = record.get("config")
    if not isinstance(config, Mapping):
        return dict(record)  # `record_to_event` names what is wrong with it
    return {**record, "config": {**config, "busy_counter_policy": "refuse"}}


def _queue_reconfigured_v2_to_v3(record: Record) -> Record:
    """Version 3 added why the settings were changed; changes before v3 gave no reason."""
    return {**record, "reason": None}


def _config_with_no_site(record: Record) -> Record:
    """QueueCreated v3 and QueueReconfigured v4 added the queue's site: none before."""
    config = record.get("config")
    if not isinstance(config, Mapping):
        return record
    return {**record, "config": {**config, "site": None}}


def _config_with_no_appointments(record: Record) -> Record:
    """QueueCreated v4 and QueueReconfigured v5 added appointments: none before."""
    config = record.get("config")
    if not isinstance(config, Mapping):
        return record
    return {**record, "config": {**config, "appointments": None}}


# (type, version) -> the step from that version to the next one.
_UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("TicketEnqueued", 1): _ticket_enqueued_v1_to_v2,
    ("TicketTransferredIn", 1): _ticket_transferred_in_v1_to_v2,
    ("TicketEnqueued", 2): _contact_dropped,
    ("TicketTransferredIn", 2): _contact_dropped,
    ("QueueCreated", 1): _config_v1_to_v2,
    ("QueueReconfigured", 1): _config_v1_to_v2,
    ("QueueReconfigured", 2): _queue_reconfigured_v2_to_v3,
    ("QueueCreated", 2): _config_with_no_site,
    ("QueueReconfigured", 3): _config_with_no_site,
    ("QueueCreated", 3): _config_with_no_appointments,
    ("QueueReconfigured", 4): _config_with_no_appointments,
}


def upcast(event_type: str, schema_version: int, record: Mapping[str, Any]) -> Record:
    """Lift a record of `schema_version` to the current version of `event_type`, step by step."""
    current = current_version(event_type)
    if not 1 <= schema_version <= current:
        raise UnknownEventType(
            f"{event_type} has no schema version {schema_version} (current is {current})"
        )
    lifted = dict(record)
    for version in range(schema_version, current):
        step = _UPCASTERS.get((event_type, version))
        if step is None:
            raise UnknownEventType(f"no upcaster for {event_type} v{version} -> v{version + 1}")
        lifted = step(lifted)
    return lifted
