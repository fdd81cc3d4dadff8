"""The positions topic: derived `TicketPositionChanged` records, Avro + CloudEvents headers.

Key = ticket id, so one ticket's changes stay in order. Which changes are announced: every status
change of a ticket, and every position change among the first few places of a line, where a
notification ("you are next") matters. A change deeper in a long line is not announced per
ticket (that would be a message per waiting person per call); the live query API has it.

Version 2 adds the wait range (the moments the ticket should be called at P10, P50 and P90) when
the change carried a fresh one; it only adds optional fields, so version 1 readers read it.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any

import fastavro

from schemas.codec import ce_source, rfc3339

TYPE = "dev.vq.position.TicketPositionChanged"
VERSION = 2
DATASCHEMA = f"urn:dev.vq:schema:TicketPositionChanged:{VERSION}"
_NAMESPACE = uuid.UUID("6b1f4f0e-2d7a-4c55-9a43-1f0c3f5a7e21")


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionChanged:
    tenant_id: str
    queue_id: str
    ticket_id: str
    number: str
    stream_version: int
    occurred_at: datetime
    cause: str
    status: str
    position: int | None
    counter: str | None
    call_p10_at: datetime | None = None
    call_p50_at: datetime | None = None
    call_p90_at: datetime | None = None
    estimator: str | None = None

    @property
    def event_id(self) -> str:
        name = f"{self.queue_id}:{self.stream_version}:{self.ticket_id}"
        return str(uuid.uuid5(_NAMESPACE, name))


@cache
def schema(version: int = VERSION) -> Any:
    text = (files("schemas") / "derived" / f"TicketPositionChanged.v{version}.avsc").read_text()
    return fastavro.parse_schema(json.loads(text))


def encode(change: PositionChanged) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    event_id = change.event_id  # once: a name-based UUID is a SHA-1
    record = {
        "event_id": event_id,
        "tenant_id": change.tenant_id,
        "queue_id": change.queue_id,
        "ticket_id": change.ticket_id,
        "number": change.number,
        "stream_version": change.stream_version,
        "occurred_at": change.occurred_at,
        "cause": change.cause,
        "status": change.status,
        "position": change.position,
        "people_ahead": None if change.position is None else change.position - 1,
        "counter": change.counter,
        "call_p10_at": change.call_p10_at,
        "call_p50_at": change.call_p50_at,
        "call_p90_at": change.call_p90_at,
        "estimator": change.estimator,
    }
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema(), record)
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_source", ce_source(change.tenant_id, change.queue_id).encode()),
        ("ce_type", TYPE.encode()),
        ("ce_time", rfc3339(change.occurred_at).encode()),
        ("ce_subject", change.ticket_id.encode()),
        ("ce_dataschema", DATASCHEMA.encode()),
        ("content-type", b"application/avro"),
        ("ce_vqtenantid", change.tenant_id.encode()),
        ("ce_vqstreamversion", str(change.stream_version).encode()),
        ("ce_vqschemaversion", str(VERSION).encode()),
    ]
    return change.ticket_id.encode(), out.getvalue(), headers


def decode(value: bytes, reader_version: int = VERSION) -> dict[str, Any]:
    """A record written with the current schema, read as `reader_version` sees it."""
    result = fastavro.schemaless_reader(io.BytesIO(value), schema(), schema(reader_version))
    assert isinstance(result, dict)
    return result
