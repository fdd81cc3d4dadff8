"""Kafka messages: the CloudEvents Kafka protocol binding in binary content mode, with an Avro body.

key      the queue id, UTF-8: one partition owns a queue, so its events stay in stream order.
value    Avro binary (no container) of the envelope fields followed by the payload fields, written
         with the schema `<Type>.v<N>.avsc` of the event's current version; with no registry
         prefix by default, or in the Confluent wire format (schemas/wire.py) where a deployment
         opts in. `decode` reads both.
headers  `ce_*` attributes naming the type and the writer schema version, so a consumer in any
         language picks the writer schema from the headers alone (see schemas/README.md).

`decode` reads with the writer schema the headers name and the newest reader schema of the type
(Avro schema resolution), so a message written by an older producer still becomes the current
dataclass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from io import BytesIO
from typing import Any
from urllib.parse import quote

from fastavro import schemaless_reader, schemaless_writer

from domain.events import QueueEvent
from domain.recorded import RecordedEvent
from schemas import registry, wire
from schemas.errors import InvalidMessage, UnknownEventType
from schemas.mapping import event_to_record, payload_fields, record_to_event, upcast

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/avro"
TYPE_PREFIX = "dev.vq.queue."
DATASCHEMA_PREFIX = "urn:dev.vq:schema:"
# The leading fields of every event schema, in this order.
ENVELOPE_FIELDS = (
    "event_id",
    "tenant_id",
    "queue_id",
    "stream_version",
    "occurred_at",
    "command_id",
    "correlation_id",
    "actor",
)

Headers = list[tuple[str, bytes]]
# What Kafka clients hand back: aiokafka gives a sequence of pairs, faust sometimes a dict.
ReceivedHeaders = Iterable[tuple[str, bytes | None]] | Mapping[str, bytes | None]


@dataclass(frozen=True, slots=True)
class EncodedMessage:
    key: bytes
    value: bytes
    headers: Headers


def ce_type(event_type: str) -> str:
    return f"{TYPE_PREFIX}{event_type}"


def dataschema(event_type: str, version: int) -> str:
    """`urn:dev.vq:schema:<Type>:<N>` names the file `schemas/<Type>.v<N>.avsc`."""
    return f"{DATASCHEMA_PREFIX}{event_type}:{version}"


@lru_cache(maxsize=4096)  # per event on the relay and per position message: few queues
def ce_source(tenant_id: str, queue_id: str) -> str:
    return f"/tenants/{quote(tenant_id, safe='')}/queues/{quote(queue_id, safe='')}"


def rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"occurred_at must carry a time zone offset, got {moment.isoformat()}")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- encode -------------------------------------------------------------------------------------


def encode(recorded: RecordedEvent) -> EncodedMessage:
    event = recorded.event
    schema = registry.writer(event.TYPE, event.VERSION)
    body = BytesIO()
    # strict: a record with a field too many or too few is a bug here, not something to drop.
    schemaless_writer(body, schema, avro_record(recorded), strict=True)
    return EncodedMessage(
        key=recorded.queue_id.encode("utf-8"),
        value=body.getvalue(),
        headers=headers(recorded),
    )


def avro_record(recorded: RecordedEvent) -> dict[str, Any]:
    """Envelope plus payload, the shape of every event schema."""
    envelope: dict[str, Any] = {
        "event_id": recorded.event_id,
        "tenant_id": recorded.tenant_id,
        "queue_id": recorded.queue_id,
        "stream_version": recorded.stream_version,
        "occurred_at": recorded.occurred_at,
        "command_id": recorded.command_id,
        "correlation_id": recorded.correlation_id,
        "actor": recorded.actor,
    }
    payload = event_to_record(recorded.event)
    # QueueCreated repeats queue_id and tenant_id: one Avro field carries both, so they must agree.
    for name in envelope.keys() & payload.keys():
        if payload[name] != envelope[name]:
            raise ValueError(
                f"{recorded.event_type}.{name} is {payload[name]!r} "
                f"but the envelope says {envelope[name]!r}"
            )
    return {**payload, **envelope}


def headers(recorded: RecordedEvent) -> Headers:
    event = recorded.event
    attributes = [
        ("ce_specversion", SPEC_VERSION),
        ("ce_id", recorded.event_id),
        ("ce_source", ce_source(recorded.tenant_id, recorded.queue_id)),
        ("ce_type", ce_type(event.TYPE)),
        ("ce_time", rfc3339(recorded.occurred_at)),
    ]
    subject = _subject(event)
    if subject is not None:
        attributes.append(("ce_subject", subject))
    attributes += [
        ("ce_dataschema", dataschema(event.TYPE, event.VERSION)),
        ("content-type", CONTENT_TYPE),
        ("ce_vqtenantid", recorded.tenant_id),
        ("ce_vqstreamversion", str(recorded.stream_version)),
        ("ce_vqschemaversion", str(event.VERSION)),
        ("ce_vqcorrelationid", recorded.correlation_id),
        ("ce_vqcausationid", recorded.command_id),
    ]
    return [(name, text.encode("utf-8")) for name, text in attributes]


def _subject(event: QueueEvent) -> str | None:
    ticket_id = getattr(event, "ticket_id", None)
    return ticket_id if isinstance(ticket_id, str) else None


# -- decode -------------------------------------------------------------------------------------


def decode(value: bytes, received_headers: ReceivedHeaders) -> RecordedEvent:
    """The event of one Kafka message; `global_position` is None (Kafka does not carry it).

    Raises `UnknownEventType` for a type or schema version this build does not ship, and
    `InvalidMessage` for headers or a body that break the topic contract.
    """
    attributes = header_values(received_headers)
    if attributes.get("ce_specversion") != SPEC_VERSION:
        raise InvalidMessage(
            f"not a CloudEvents {SPEC_VERSION} binary-mode message "
            f"(ce_specversion={attributes.get('ce_specversion')!r})"
        )
    content_type = attributes.get("content-type", CONTENT_TYPE)
    if content_type != CONTENT_TYPE:
        raise InvalidMessage(f"content-type must be {CONTENT_TYPE}, got {content_type!r}")
    type_attribute = _required(attributes, "ce_type")
    if not type_attribute.startswith(TYPE_PREFIX):
        raise UnknownEventType(f"ce_type {type_attribute!r} is not a {TYPE_PREFIX}* type")
    version_attribute = _required(attributes, "ce_vqschemaversion")
    if not version_attribute.isdigit():
        raise InvalidMessage(f"ce_vqschemaversion must be a number, got {version_attribute!r}")
    if wire.is_framed(value):  # the Confluent wire format (schemas/wire.py): the headers still
        _, value = wire.unframe(value)  # name the writer schema, the id is for other tools
    return decode_value(value, type_attribute.removeprefix(TYPE_PREFIX), int(version_attribute))


def decode_value(value: bytes, event_type: str, schema_version: int) -> RecordedEvent:
    """The event of an Avro body written with `<event_type>.v<schema_version>.avsc`."""
    writer_schema = registry.writer(event_type, schema_version)
    _, reader_schema = registry.latest(event_type)
    body = BytesIO(value)
    try:
        record = schemaless_reader(body, writer_schema, reader_schema)
    # What fastavro raises on bytes that do not fit the schema (truncated, corrupt, wrong schema).
    except (EOFError, ValueError, IndexError, OverflowError) as error:
        raise InvalidMessage(
            f"body is not a {event_type} v{schema_version} record: {error!r}"
        ) from error
    if body.tell() != len(value):
        # Left-over bytes mean the writer used another schema than the headers say.
        raise InvalidMessage(
            f"body has {len(value) - body.tell()} bytes after the "
            f"{event_type} v{schema_version} record"
        )
    if not isinstance(record, dict):
        raise InvalidMessage(f"body is not a {event_type} record")
    if schema_version < registry.latest(event_type)[0]:
        # Avro resolution fills the fields a newer version added; what it cannot say (a field
        # no longer written, such as an old event's contact in the clear) the upcasters do, so an
        # older record reads as the same event from a topic as from the event store.
        fields = payload_fields(event_type)
        record = {**record, **upcast(event_type, schema_version, {n: record[n] for n in fields})}
    try:
        return recorded_from_avro(event_type, record)
    except (TypeError, ValueError) as error:
        # Well-formed Avro whose values the domain rejects, e.g. a status this build does not know.
        raise InvalidMessage(f"{event_type} v{schema_version}: {error}") from error


def recorded_from_avro(event_type: str, record: Mapping[str, Any]) -> RecordedEvent:
    """A RecordedEvent from a record of the NEWEST schema of `event_type` (envelope + payload)."""
    event = record_to_event(event_type, {name: record[name] for name in payload_fields(event_type)})
    return RecordedEvent(
        event_id=record["event_id"],
        tenant_id=record["tenant_id"],
        queue_id=record["queue_id"],
        stream_version=record["stream_version"],
        event=event,
        occurred_at=record["occurred_at"],
        command_id=record["command_id"],
        correlation_id=record["correlation_id"],
        actor=record["actor"],
        global_position=None,
    )


def header_values(received_headers: ReceivedHeaders) -> dict[str, str]:
    """Headers as text; a header without a value counts as absent."""
    pairs = received_headers.items() if isinstance(received_headers, Mapping) else received_headers
    values: dict[str, str] = {}
    for name, raw in pairs:
        if raw is None:
            continue
        try:
            values[name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidMessage(f"header {name!r} is not UTF-8") from None
    return values


def _required(attributes: Mapping[str, str], name: str) -> str:
    try:
        return attributes[name]
    except KeyError:
        raise InvalidMessage(f"header {name!r} is missing") from None
