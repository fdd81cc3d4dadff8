"""The Confluent wire format: magic byte 0, the schema id (4 bytes, big-endian), the Avro body.

The relay writes it when `VQ_EVENTS_WIRE_FORMAT=confluent`; registry-aware tools (kcat -s avro,
Kafka Connect's Avro converters, the Java and Go deserializers) read the writer schema by id. A
plain value (the default format) never starts with 0: its first field, `event_id`, is a non-empty
Avro string, whose length prefix is a positive zig-zag varint. So a reader tells the two apart by
the first byte and a topic may switch format without its consumers being told.
"""

from __future__ import annotations

import struct

from schemas.errors import InvalidMessage

MAGIC = 0
_HEADER = struct.Struct(">bI")


def frame(schema_id: int, body: bytes) -> bytes:
    return _HEADER.pack(MAGIC, schema_id) + body


def is_framed(value: bytes) -> bool:
    return len(value) > 0 and value[0] == MAGIC


def unframe(value: bytes) -> tuple[int, bytes]:
    """The schema id and the Avro body of a framed value."""
    if len(value) < _HEADER.size or value[0] != MAGIC:
        raise InvalidMessage(
            f"not a Confluent wire format value ({len(value)} bytes, first byte {value[:1]!r})"
        )
    _, schema_id = _HEADER.unpack_from(value)
    return schema_id, value[_HEADER.size :]
