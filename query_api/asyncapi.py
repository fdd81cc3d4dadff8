"""The AsyncAPI 3.0 document of every topic the product writes, and of the messages of the
API's queue WebSocket (query_api/live.py), served at /asyncapi.json.

Built from what the code itself uses, so it cannot drift: the topic names from the settings, the
event payloads from the shipped Avro schemas (schemas/*.avsc, newest version of each type), the
positions payload from schemas/derived, the CloudEvents headers from schemas/codec.py, the
delivery messages' fields from notifications/messages.py, the dead letters' headers from
topics/deadletters.py. A parser (tests/asyncapi, `@asyncapi/parser`) validates it in the tests.
"""

from __future__ import annotations

import json
from dataclasses import fields
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from core.settings import DELIVERY_CHANNELS, Settings
from notifications.messages import ATTEMPT_HEADER, DUE_HEADER, ERROR_HEADER, Message
from schemas import positions, registry
from schemas.codec import CONTENT_TYPE, TYPE_PREFIX
from topics.deadletters import PREFIX as DLQ_PREFIX
from topics.event_schemas import COMPATIBILITY

ASYNCAPI_VERSION = "3.0.0"
AVRO = "application/vnd.apache.avro+json;version=1.9.0"
KAFKA_BINDING = "0.5.0"
WS_BINDING = "0.1.0"
_SOCKET = ("QueueView", "ReadSideStatus")
_TEXT = {"type": "string"}


def _product_version() -> str:
    try:
        return version("virtual-queue")
    except PackageNotFoundError:
        return "0.0.0"


def _ce_headers(ce_type: str | None, required_extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """The CloudEvents Kafka binding's headers, binary mode (schemas/README.md)."""
    described = {
        "ce_specversion": ({"const": "1.0"}, "CloudEvents version"),
        "ce_id": (_TEXT, "The event id (unique; a redelivery repeats it)"),
        "ce_source": (_TEXT, "/tenants/<tenant>/queues/<queue>"),
        "ce_type": ({"const": ce_type} if ce_type else _TEXT, "The event type"),
        "ce_time": ({"type": "string", "format": "date-time"}, "When it happened (RFC 3339)"),
        "ce_subject": (_TEXT, "The ticket id, for events about a ticket"),
        "ce_dataschema": (_TEXT, "urn:dev.vq:schema:<Type>:<version>: the writer schema"),
        "content-type": ({"const": CONTENT_TYPE}, "The body's media type"),
        "ce_vqtenantid": (_TEXT, "The tenant"),
        "ce_vqstreamversion": (_TEXT, "The queue's stream version (decimal)"),
        "ce_vqschemaversion": (_TEXT, "The writer schema's version (decimal)"),
        "ce_vqcorrelationid": (_TEXT, "The correlation id of the command"),
        "ce_vqcausationid": (_TEXT, "The id of the command that caused it"),
    }
    return {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", *required_extra],
        "properties": {
            name: {**schema, "description": text} for name, (schema, text) in described.items()
        },
    }


def _kafka_binding(key: str, settings: Settings, registered: bool) -> dict[str, Any]:
    binding: dict[str, Any] = {
        "key": {"type": "string", "description": key},
        "bindingVersion": KAFKA_BINDING,
    }
    if registered:
        binding |= {
            "schemaIdLocation": "payload",
            "schemaIdPayloadEncoding": "confluent",
            "schemaLookupStrategy": "TopicRecordNameStrategy",
        }
    return binding


def _event_messages(settings: Settings) -> dict[str, Any]:
    framed = settings.events_wire_format == "confluent"
    framing = (
        "Confluent wire format: byte 0, the schema id (4 bytes, big-endian), then the Avro body"
        if framed
        else "plain Avro binary (no registry prefix; VQ_EVENTS_WIRE_FORMAT=confluent adds it)"
    )
    found: dict[str, Any] = {}
    for event_type in sorted({name for name, _ in registry.versions()}):
        newest, _ = registry.latest(event_type)
        schema = json.loads(registry.schema_file(event_type, newest).text)
        found[event_type] = {
            "name": event_type,
            "title": event_type,
            "summary": schema.get("doc", f"{event_type} (schema version {newest})")[:300],
            "description": f"Value: {framing}, written with schemas/{event_type}.v{newest}.avsc"
            f" (registry subject {settings.events_topic}-{registry.NAMESPACE}.{event_type},"
            f" {COMPATIBILITY}). Older versions are read with this schema.",
            "contentType": CONTENT_TYPE,
            "headers": _ce_headers(TYPE_PREFIX + event_type, ("ce_vqschemaversion",)),
            "payload": {"schemaFormat": AVRO, "schema": schema},
            "bindings": {"kafka": _kafka_binding("The queue id (UTF-8)", settings, framed)},
        }
    return found


def _positions_message(settings: Settings) -> dict[str, Any]:
    text = files("schemas").joinpath(f"derived/TicketPositionChanged.v{positions.VERSION}.avsc")
    return {
        "name": "TicketPositionChanged",
        "title": "A ticket's place or status changed",
        "contentType": CONTENT_TYPE,
        "headers": _ce_headers(positions.TYPE),
        "payload": {"schemaFormat": AVRO, "schema": json.loads(text.read_text())},
        "bindings": {"kafka": _kafka_binding("The ticket id (UTF-8)", settings, False)},
    }


def _delivery_payload() -> dict[str, Any]:
    kinds: dict[str, dict[str, Any]] = {
        "created_at": {"type": "string", "format": "date-time"},
        "data": {
            "type": "object",
            "description": "Template variables, or a webhook's body. A message to a person's"
            " subscription carries no credential: `ticket_url` is the ticket's page"
            " (`/t/<ticket id>`) without its token, which the delivery stage adds as it sends.",
        },
        "to": {
            "type": "string",
            "description": "A webhook endpoint's id, an alert's address or id; empty for a"
            " person's subscription (`subscription_id`), whose address is read when it is sent.",
        },
        "channel": {"type": "string", "enum": list(DELIVERY_CHANNELS)},
    }
    optional = {"queue_id", "ticket_id", "subscription_id"}
    properties = {
        f.name: kinds.get(f.name, {"type": ["string", "null"] if f.name in optional else "string"})
        for f in fields(Message)
    }
    required = [f.name for f in fields(Message) if f.name not in optional | {"language", "data"}]
    return {"type": "object", "required": required, "properties": properties}


def _delivery_message(name: str, summary: str) -> dict[str, Any]:
    headers = {
        ATTEMPT_HEADER: "The attempt this record is for (1 = the first)",
        DUE_HEADER: "Not to be tried before (RFC 3339)",
        ERROR_HEADER: "Why the last attempt failed (retries and dead letters)",
    }
    return {
        "name": name,
        "summary": summary,
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "properties": {n: {"type": "string", "description": d} for n, d in headers.items()},
        },
        "payload": _delivery_payload(),
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The message's order key"},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _dead_letter_message() -> dict[str, Any]:
    ours = ("error", "stage", "topic", "partition", "offset", "timestamp", "group")
    headers = _ce_headers(None)
    headers["required"] = [DLQ_PREFIX + name for name in ours]
    for name in ours:
        headers["properties"][DLQ_PREFIX + name] = {
            "type": "string",
            "description": f"The dead letter's {name} (topics/deadletters.py)",
        }
    return {
        "name": "QueueEventDeadLetter",
        "summary": "A record of the events topic that a worker could not decode or apply",
        "description": "Key, value and headers of the original record, unchanged (the value "
        "may be anything, which is why it is here), plus vq.dlq.* headers: why, and where it "
        "came from. `vq deadletters replay` writes it back to its topic.",
        "headers": headers,
        "payload": {"type": "string", "contentEncoding": "binary"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The original key (a queue id)"},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _channel(address: str, description: str, messages: list[str]) -> dict[str, Any]:
    return {
        "address": address,
        "description": description,
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
        "servers": [{"$ref": "#/servers/kafka"}],
        "bindings": {"kafka": {"topic": address, "bindingVersion": KAFKA_BINDING}},
    }


def _socket_channel() -> dict[str, Any]:
    """The queue's WebSocket (query_api/live.py), which the API writes to its followers."""
    return {
        "address": "/v1/queues/{queue_id}/ws",
        "description": "A queue followed live: its view first, then after every change; a "
        "status frame when the read side stops keeping up and when it does again. A key or "
        "token that reads the queue: `Authorization: Bearer` or `?access_token=`.",
        "parameters": {"queue_id": {"description": "The queue's id (a UUID)"}},
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in _SOCKET},
        "servers": [{"$ref": "#/servers/api"}],
        "bindings": {"ws": {"method": "GET", "bindingVersion": WS_BINDING}},
    }


def _socket_messages() -> dict[str, Any]:
    return {
        "QueueView": {
            "name": "QueueView",
            "summary": "The queue's view, as GET /v1/queues/{queue_id} answers it",
            "description": "The response model `QueueOut` of /openapi.json; it has no `type`.",
            "contentType": "application/json",
            "payload": {"type": "object", "required": ["version"]},
        },
        "ReadSideStatus": {
            "name": "ReadSideStatus",
            "summary": "Whether the views keep up with the queue (the SSE streams' "
            "`event: status`)",
            "description": "`delayed` while the stream workers do not keep up (the views stop "
            "changing though the queue does), `current` once they do again. A socket opened "
            "during a delay gets it before the first view.",
            "contentType": "application/json",
            "payload": {
                "type": "object",
                "required": ["type", "read_side"],
                "properties": {
                    "type": {"const": "status"},
                    "read_side": {"enum": ["delayed", "current"]},
                    "since": {
                        "type": "string",
                        "format": "date-time",
                        "description": "When the views stopped following (`delayed` only)",
                    },
                },
            },
        },
    }


def _channels(settings: Settings, events: list[str]) -> dict[str, Any]:
    channels = {
        "queueEvents": _channel(
            settings.events_topic,
            "Every fact of every queue, in each queue's order (one partition owns a queue), "
            "published by the relay from the event store. CloudEvents binary mode, Avro body.",
            events,
        ),
        "positions": _channel(
            settings.positions_topic,
            "Derived by the stream workers: a ticket's place or status changed.",
            ["TicketPositionChanged"],
        ),
        "queueEventsDeadLetters": _channel(
            settings.events_dead_letter_topic,
            "Records of the events topic the workers could not decode or apply.",
            ["QueueEventDeadLetter"],
        ),
        "deliveriesDeadLetters": _channel(
            settings.dead_letter_topic,
            "Notifications given up on after their last attempt.",
            ["Delivery"],
        ),
    }
    for channel in DELIVERY_CHANNELS:
        channels[f"deliveries_{channel}"] = _channel(
            settings.deliveries_topic(channel),
            f"Messages due on the {channel} channel (the notifier writes, its workers read).",
            ["Delivery"],
        )
    for retry in range(1, len(settings.retry_delays) + 1):
        channels[f"deliveriesRetry{retry}"] = _channel(
            settings.retry_topic(retry),
            f"Messages waiting for their attempt {retry + 1} ({settings.retry_delays[retry - 1]:g}"
            " s after the previous one failed).",
            ["Delivery"],
        )
    channels["queueSocket"] = _socket_channel()
    return channels


def document(settings: Settings) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of this deployment's topics and queue WebSocket."""
    events = _event_messages(settings)
    channels = _channels(settings, sorted(events))
    host = settings.kafka_servers.split(",")[0]
    operations = {
        f"send_{name}": {
            "action": "send",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"The product writes {channel['address']}",
            "messages": [
                {"$ref": f"#/channels/{name}/messages/{message}"} for message in channel["messages"]
            ],
        }
        for name, channel in channels.items()
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:dev.vq:virtual-queue",
        "info": {
            "title": "Virtual queue: Kafka topics and the queue WebSocket",
            "version": _product_version(),
            "description": "Every topic the product writes, and the messages of the API's "
            "queue WebSocket. Queue events and positions follow "
            "the CloudEvents Kafka binding (binary mode: ce_* headers, Avro body); the event "
            "schemas are in the schema registry (Confluent REST API) under "
            f"`{settings.events_topic}-{registry.NAMESPACE}.<Type>`, {COMPATIBILITY}.",
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "kafka": {
                "host": host,
                "protocol": "kafka",
                "description": "The deployment's Kafka (plaintext on the native stack)",
                "bindings": {
                    "kafka": {
                        "schemaRegistryUrl": settings.schema_registry_url,
                        "schemaRegistryVendor": "apicurio",
                        "bindingVersion": KAFKA_BINDING,
                    }
                },
            },
            "api": {
                "host": urlsplit(settings.public_url).netloc,
                "protocol": "wss" if settings.public_url.startswith("https:") else "ws",
                "description": "The API (`vq api`): its live WebSocket",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {
                **events,
                "TicketPositionChanged": _positions_message(settings),
                "Delivery": _delivery_message("Delivery", "A notification due (or retried)"),
                "QueueEventDeadLetter": _dead_letter_message(),
                **_socket_messages(),
            }
        },
    }


@cache
def cached_document(settings: Settings) -> dict[str, Any]:
    """`document`, made once per process (the settings are frozen, the schemas shipped)."""
    return document(settings)
