"""Old events still decode: every newer schema reads data of every older one, in both libraries.

Avro schema resolution (Kafka path) and the Python upcasters (event store path) must agree on
what an old event becomes.
"""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, datetime
from typing import Any

import avro.io
import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from fastavro import schemaless_writer

from domain.events import QueueCreated, QueueReconfigured, TicketEnqueued
from domain.recorded import RecordedEvent
from schemas import codec, registry
from schemas.mapping import (
    event_to_record,
    payload_fields,
    record_to_event,
    upcast,
    upcast_to_event,
)

OLDER_NEWER = [
    (event_type, old, new)
    for event_type, old in registry.versions()
    for other_type, new in registry.versions()
    if other_type == event_type and old < new
]


def _avro_schema(event_type: str, version: int) -> avro.schema.Schema:
    return avro.schema.parse(registry.schema_file(event_type, version).text)


def _field_names(event_type: str, version: int) -> list[str]:
    return [f["name"] for f in json.loads(registry.schema_file(event_type, version).text)["fields"]]


def _old_record(recorded: RecordedEvent, version: int) -> dict[str, Any]:
    """The sample as a producer of `version` would have written it: only that version's fields,
    in nested records too (QueueConfig gained a field inside QueueCreated's `config`)."""
    raw = json.loads(registry.schema_file(recorded.event_type, version).text)
    projected: dict[str, Any] = _projected(raw, codec.avro_record(recorded))
    return projected


def _projected(avro_type: Any, value: Any) -> Any:
    """`value` with only the fields `avro_type` (raw JSON) has, recursively."""
    if isinstance(avro_type, list):  # a union: the branch the value fits
        branches = [b for b in avro_type if b != "null"]
        return None if value is None else _projected(branches[0], value)
    if not isinstance(avro_type, dict):
        return value
    kind = avro_type["type"]
    if kind == "record":
        return {f["name"]: _projected(f["type"], value[f["name"]]) for f in avro_type["fields"]}
    if kind == "array":
        return [_projected(avro_type["items"], item) for item in value]
    if kind == "map":
        return {key: _projected(avro_type["values"], item) for key, item in value.items()}
    return value


def _write_fastavro(event_type: str, version: int, record: dict[str, Any]) -> bytes:
    body = io.BytesIO()
    schemaless_writer(body, registry.writer(event_type, version), record, strict=True)
    return body.getvalue()


def _write_avro(event_type: str, version: int, record: dict[str, Any]) -> bytes:
    body = io.BytesIO()
    avro.io.DatumWriter(_avro_schema(event_type, version)).write(
        record, avro.io.BinaryEncoder(body)
    )
    return body.getvalue()


def _v1_headers(message: codec.EncodedMessage) -> list[tuple[str, bytes]]:
    rewritten = {
        "ce_vqschemaversion": b"1",
        "ce_dataschema": b"urn:dev.vq:schema:TicketEnqueued:1",
    }
    return [(name, rewritten.get(name, value)) for name, value in message.headers]


@pytest.fixture
def enqueued(samples_by_type: dict[str, list[RecordedEvent]]) -> RecordedEvent:
    """The fullest TicketEnqueued sample (sealed personal data and a language, which v1 cannot
    carry, and metadata)."""
    sample = samples_by_type["TicketEnqueued"][0]
    assert isinstance(sample.event, TicketEnqueued)
    assert sample.event.language is not None
    return sample


def _without_language(recorded: RecordedEvent) -> RecordedEvent:
    """What a v1 record of `recorded` reads as: no language, no personal data."""
    assert isinstance(recorded.event, TicketEnqueued)
    event = dataclasses.replace(recorded.event, language=None, personal=None)
    return dataclasses.replace(recorded, event=event, global_position=None)


def test_ticket_enqueued_v1_decodes_with_the_v2_reader_fastavro(enqueued: RecordedEvent) -> None:
    v1_body = _write_fastavro("TicketEnqueued", 1, _old_record(enqueued, 1))
    message = codec.encode(enqueued)

    decoded = codec.decode(v1_body, _v1_headers(message))

    assert decoded == _without_language(enqueued)


def test_ticket_enqueued_v1_decodes_with_the_v2_reader_official_avro(
    enqueued: RecordedEvent,
) -> None:
    v1_body = _write_avro("TicketEnqueued", 1, _old_record(enqueued, 1))
    reader = avro.io.DatumReader(
        _avro_schema("TicketEnqueued", 1), _avro_schema("TicketEnqueued", 3)
    )

    record = reader.read(avro.io.BinaryDecoder(io.BytesIO(v1_body)))
    assert isinstance(record, dict)

    assert record["language"] is None and record["personal"] is None
    assert codec.recorded_from_avro("TicketEnqueued", record) == _without_language(enqueued)
    # And the same bytes, written by the other library, decode through the codec too.
    assert codec.decode_value(v1_body, "TicketEnqueued", 1) == _without_language(enqueued)


def test_ticket_enqueued_v1_from_the_event_store_upcasts_to_language_none() -> None:
    """The JSONB path: a v1 payload stored with ISO-8601 times becomes the v2 dataclass."""
    v1_payload = {
        "ticket_id": "tk-9",
        "number": "A-001",
        "daily_number": 1,
        "seq": 1,
        "priority": "normal",
        "service_type": None,
        "channel": "web",
        "contact": {"name": "Ana", "phone": None, "email": None},
        "metadata": {},
        "at": "2024-11-02T08:15:00.000001+00:00",
    }

    event = record_to_event("TicketEnqueued", upcast("TicketEnqueued", 1, v1_payload))

    assert isinstance(event, TicketEnqueued)
    assert event.language is None
    assert event.at == datetime(2024, 11, 2, 8, 15, 0, 1, tzinfo=UTC)


def test_there_is_at_least_one_evolution_to_check() -> None:
    assert ("TicketEnqueued", 1, 2) in OLDER_NEWER
    assert ("QueueCreated", 1, 2) in OLDER_NEWER
    assert ("QueueReconfigured", 1, 2) in OLDER_NEWER
    assert ("QueueReconfigured", 2, 3) in OLDER_NEWER
    assert ("QueueReconfigured", 1, 3) in OLDER_NEWER
    assert ("QueueCreated", 2, 3) in OLDER_NEWER
    assert ("QueueReconfigured", 3, 4) in OLDER_NEWER


@pytest.mark.parametrize("event_type", ["QueueCreated", "QueueReconfigured"])
def test_a_queue_configured_before_the_busy_counter_policy_refuses(
    event_type: str, samples_by_type: dict[str, list[RecordedEvent]]
) -> None:
    """Both paths give an old configuration the policy "refuse": Avro's default (Kafka) and the
    upcaster (the event store), whatever policy the sample itself has."""
    sample = samples_by_type[event_type][0]
    assert isinstance(sample.event, QueueCreated | QueueReconfigured)
    assert sample.event.config.busy_counter_policy == "close_previous"  # not the default
    v1_body = _write_fastavro(event_type, 1, _old_record(sample, 1))
    stored = event_to_record(sample.event)
    stored["config"] = {
        k: v for k, v in stored["config"].items() if k != "busy_counter_policy"
    }  # as a v1 producer stored it in PostgreSQL

    from_kafka = codec.decode_value(v1_body, event_type, 1).event
    from_store = upcast_to_event(event_type, 1, stored)

    assert isinstance(from_kafka, QueueCreated | QueueReconfigured)
    assert from_kafka.config.busy_counter_policy == "refuse"
    assert from_store == from_kafka
    assert from_kafka.config == dataclasses.replace(
        sample.event.config, busy_counter_policy="refuse", site=None, appointments=None
    )


def test_a_change_made_before_reasons_were_kept_reads_reason_none(
    samples_by_type: dict[str, list[RecordedEvent]],
) -> None:
    """QueueReconfigured v2 from Kafka (written by either library, read by either) and from the
    event store (the upcaster) both read `reason` None: nobody could give one before v3."""
    sample = samples_by_type["QueueReconfigured"][0]
    assert isinstance(sample.event, QueueReconfigured)
    assert sample.event.reason is not None  # the sample has one that v2 cannot carry
    v2_record = _old_record(sample, 2)
    assert "reason" not in v2_record
    stored = {k: v for k, v in event_to_record(sample.event).items() if k != "reason"}
    stored["config"] = {
        k: v for k, v in stored["config"].items() if k not in ("site", "appointments")
    }  # v2 had none
    expected = dataclasses.replace(
        sample.event,
        reason=None,
        config=dataclasses.replace(sample.event.config, site=None, appointments=None),
    )

    for body in (
        _write_fastavro("QueueReconfigured", 2, v2_record),
        _write_avro("QueueReconfigured", 2, v2_record),
    ):
        assert codec.decode_value(body, "QueueReconfigured", 2).event == expected
        reader = avro.io.DatumReader(
            _avro_schema("QueueReconfigured", 2), _avro_schema("QueueReconfigured", 3)
        )
        record = reader.read(avro.io.BinaryDecoder(io.BytesIO(body)))
        assert isinstance(record, dict) and record["reason"] is None
    assert upcast_to_event("QueueReconfigured", 2, stored) == expected


@pytest.mark.parametrize(("event_type", "old", "new"), OLDER_NEWER)
def test_newer_schema_is_backward_compatible_with_older(
    event_type: str, old: int, new: int, samples_by_type: dict[str, list[RecordedEvent]]
) -> None:
    result = ReaderWriterCompatibilityChecker().get_compatibility(  # type: ignore[no-untyped-call]
        _avro_schema(event_type, new), _avro_schema(event_type, old)
    )
    assert result.compatibility is SchemaCompatibilityType.compatible, result.messages
    added = set(_field_names(event_type, new)) - set(_field_names(event_type, old))
    new_fields = json.loads(registry.schema_file(event_type, new).text)["fields"]
    assert all("default" in f for f in new_fields if f["name"] in added), "added without default"

    for sample in samples_by_type[event_type]:
        old_record = _old_record(sample, old)
        # QueueCreated's queue_id and tenant_id are payload fields that live in the envelope.
        old_payload = {
            name: value
            for name, value in old_record.items()
            if name not in codec.ENVELOPE_FIELDS or name in payload_fields(event_type)
        }
        for body in (
            _write_fastavro(event_type, old, old_record),
            _write_avro(event_type, old, old_record),
        ):
            decoded = codec.decode_value(body, event_type, old)
            # Avro resolution (Kafka) and the upcasters (event store) agree on the result.
            upcast_event = record_to_event(event_type, upcast(event_type, old, old_payload))
            assert decoded.event == upcast_event


@pytest.mark.parametrize(("event_type", "before"), [("QueueCreated", 2), ("QueueReconfigured", 3)])
def test_a_queue_configured_before_sites_has_none(
    event_type: str, before: int, samples_by_type: dict[str, list[RecordedEvent]]
) -> None:
    """From Kafka (Avro's default) and from the event store (the upcaster): site None."""
    sample = samples_by_type[event_type][0]
    assert isinstance(sample.event, QueueCreated | QueueReconfigured)
    assert sample.event.config.site is not None  # the sample names one
    old_record = _old_record(sample, before)
    assert "site" not in old_record["config"]
    stored = event_to_record(sample.event)
    stored["config"] = {
        k: v for k, v in stored["config"].items() if k not in ("site", "appointments")
    }
    from_kafka = codec.decode_value(
        _write_fastavro(event_type, before, old_record), event_type, before
    )
    from_store = upcast_to_event(event_type, before, stored)
    assert isinstance(from_kafka.event, QueueCreated | QueueReconfigured)
    assert from_kafka.event.config == dataclasses.replace(
        sample.event.config, site=None, appointments=None
    )
    assert from_store == from_kafka.event
