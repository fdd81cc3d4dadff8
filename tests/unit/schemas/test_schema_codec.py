"""The Kafka codec: round trips, a second Avro implementation, CloudEvents headers, bad input."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import random
import re
from datetime import datetime

import avro.io
import avro.schema
import pytest

from domain.events import EVENT_TYPES, QueueCreated
from domain.recorded import RecordedEvent
from schemas import codec, registry
from schemas.errors import InvalidMessage, UnknownEventType


def test_samples_cover_every_event_type(samples_by_type: dict[str, list[RecordedEvent]]) -> None:
    assert set(samples_by_type) == set(EVENT_TYPES)


def test_round_trip(recorded: RecordedEvent) -> None:
    message = codec.encode(recorded)

    decoded = codec.decode(message.value, message.headers)

    assert decoded == dataclasses.replace(recorded, global_position=None)
    assert type(decoded.event) is type(recorded.event)


def test_value_decodes_with_the_official_avro_library(recorded: RecordedEvent) -> None:
    message = codec.encode(recorded)
    text = registry.schema_file(recorded.event_type, recorded.schema_version).text
    reader = avro.io.DatumReader(avro.schema.parse(text))

    decoded = reader.read(avro.io.BinaryDecoder(io.BytesIO(message.value)))

    assert decoded == codec.avro_record(recorded)
    assert list(decoded)[: len(codec.ENVELOPE_FIELDS)] == list(codec.ENVELOPE_FIELDS)


def test_key_is_the_queue_id(recorded: RecordedEvent) -> None:
    assert codec.encode(recorded).key == recorded.queue_id.encode("utf-8")


def test_headers_carry_the_cloudevents_attributes(recorded: RecordedEvent) -> None:
    headers = codec.encode(recorded).headers
    names = [name for name, _ in headers]
    values = {name: value.decode("utf-8") for name, value in headers}
    event = recorded.event
    ticket_id = getattr(event, "ticket_id", None)

    assert len(names) == len(set(names)), "every attribute once"
    assert all(isinstance(value, bytes) for _, value in headers)
    assert values == {
        "ce_specversion": "1.0",
        "ce_id": recorded.event_id,
        "ce_source": f"/tenants/{recorded.tenant_id}/queues/{recorded.queue_id}",
        "ce_type": f"dev.vq.queue.{event.TYPE}",
        "ce_time": values["ce_time"],
        **({"ce_subject": ticket_id} if ticket_id is not None else {}),
        "ce_dataschema": f"urn:dev.vq:schema:{event.TYPE}:{event.VERSION}",
        "content-type": "application/avro",
        "ce_vqtenantid": recorded.tenant_id,
        "ce_vqstreamversion": str(recorded.stream_version),
        "ce_vqschemaversion": str(event.VERSION),
        "ce_vqcorrelationid": recorded.correlation_id,
        "ce_vqcausationid": recorded.command_id,
    }
    assert values["ce_time"].endswith("Z")
    assert datetime.fromisoformat(values["ce_time"]) == recorded.occurred_at


def test_ticket_events_have_a_subject_and_queue_events_do_not(
    samples_by_type: dict[str, list[RecordedEvent]],
) -> None:
    for event_type, samples in samples_by_type.items():
        names = {name for name, _ in codec.encode(samples[0]).headers}
        ticket_event = event_type.startswith(("Ticket", "Service", "AppointmentCheckedIn"))
        assert ("ce_subject" in names) == ticket_event, event_type


def test_source_escapes_ids_that_are_not_uri_safe() -> None:
    assert codec.ce_source("a b", "q/1") == "/tenants/a%20b/queues/q%2F1"


def test_decode_accepts_headers_as_a_mapping(recorded: RecordedEvent) -> None:
    message = codec.encode(recorded)

    decoded = codec.decode(message.value, dict(message.headers))

    assert decoded.event == recorded.event


# -- what encode refuses -------------------------------------------------------------------------


def test_encode_refuses_a_queue_created_whose_ids_disagree_with_the_envelope(
    samples_by_type: dict[str, list[RecordedEvent]],
) -> None:
    sample = samples_by_type["QueueCreated"][0]
    assert isinstance(sample.event, QueueCreated)
    event = dataclasses.replace(sample.event, queue_id="another-queue")

    with pytest.raises(ValueError, match="queue_id"):
        codec.encode(dataclasses.replace(sample, event=event))


def test_encode_refuses_a_naive_time(recorded: RecordedEvent) -> None:
    with pytest.raises(ValueError, match="time zone"):
        codec.encode(dataclasses.replace(recorded, occurred_at=datetime(2025, 3, 14, 9, 0)))


# -- what decode refuses -------------------------------------------------------------------------


@pytest.fixture
def message(samples_by_type: dict[str, list[RecordedEvent]]) -> codec.EncodedMessage:
    return codec.encode(samples_by_type["TicketCalled"][0])


def _with(headers: codec.Headers, name: str, value: bytes | None) -> list[tuple[str, bytes]]:
    """`headers` with `name` replaced by `value`, or removed when `value` is None."""
    kept = [(n, v) for n, v in headers if n != name]
    return kept if value is None else [*kept, (name, value)]


def test_decode_refuses_an_unknown_type(message: codec.EncodedMessage) -> None:
    headers = _with(message.headers, "ce_type", b"dev.vq.queue.TicketTeleported")

    with pytest.raises(UnknownEventType, match="TicketTeleported"):
        codec.decode(message.value, headers)


def test_decode_refuses_a_foreign_type(message: codec.EncodedMessage) -> None:
    headers = _with(message.headers, "ce_type", b"com.example.order.Created")

    with pytest.raises(UnknownEventType, match=re.escape("com.example.order.Created")):
        codec.decode(message.value, headers)


def test_decode_refuses_an_unknown_schema_version(message: codec.EncodedMessage) -> None:
    headers = _with(message.headers, "ce_vqschemaversion", b"99")

    with pytest.raises(UnknownEventType, match="version 99"):
        codec.decode(message.value, headers)


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("ce_type", None, "ce_type"),
        ("ce_vqschemaversion", None, "ce_vqschemaversion"),
        ("ce_vqschemaversion", b"v1", "number"),
        ("ce_specversion", None, "CloudEvents"),
        ("ce_specversion", b"0.3", "CloudEvents"),
        ("content-type", b"application/json", "content-type"),
        ("ce_type", b"\xff\xfe", "UTF-8"),
    ],
)
def test_decode_refuses_headers_that_break_the_contract(
    message: codec.EncodedMessage, name: str, value: bytes | None, error: str
) -> None:
    with pytest.raises(InvalidMessage, match=error):
        codec.decode(message.value, _with(message.headers, name, value))


def test_decode_refuses_a_truncated_body(message: codec.EncodedMessage) -> None:
    with pytest.raises(InvalidMessage):
        codec.decode(message.value[:-3], message.headers)


def test_decode_refuses_bytes_after_the_record(message: codec.EncodedMessage) -> None:
    with pytest.raises(InvalidMessage, match="after"):
        codec.decode(message.value + b"\x00", message.headers)


def test_corrupt_bodies_raise_invalid_message_and_nothing_else(recorded: RecordedEvent) -> None:
    message = codec.encode(recorded)
    rng = random.Random(f"{recorded.event_type}-{len(message.value)}")
    for _ in range(200):
        body = bytearray(message.value)
        if rng.random() < 0.4:
            del body[rng.randrange(len(body)) :]
        else:
            for _ in range(rng.randint(1, 3)):
                body[rng.randrange(len(body))] = rng.randrange(256)
        # Either it still happens to decode, or it is refused with InvalidMessage.
        with contextlib.suppress(InvalidMessage):
            codec.decode(bytes(body), message.headers)
