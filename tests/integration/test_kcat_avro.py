"""A stock tool reads the topic through the registry alone: kcat built with Avro
(deploy/kcat/build.sh, run by `make test-tools`) decodes every event the relay published in the
Confluent wire format, finding each writer schema by the id in the value's first five bytes.

Needs the registry of `vq stack up` (deploy/schema_registry.py) and .vq/tools/bin/kcat."""

from __future__ import annotations

import asyncio
import io
import json
import re
import shlex
import signal
import subprocess
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from fastavro import json_reader, parse_schema

from core.settings import Settings
from domain.recorded import RecordedEvent
from eventstore.postgres import PostgresEventStore
from eventstore.relay import producer_config
from schemas import wire
from schemas.codec import recorded_from_avro
from schemas.mapping import upcast
from tests.integration.conftest import ApiClient
from tests.integration.kafka_support import consume_until
from vq.relay import run_relay

KCAT = Path(__file__).resolve().parents[2] / ".vq" / "tools" / "bin" / "kcat"


def _kcat() -> Path:
    if not KCAT.is_file():
        pytest.fail(f"no {KCAT}: `make test-tools` builds kcat with Avro (deploy/kcat/build.sh)")
    features = subprocess.run([KCAT, "-V"], capture_output=True, text=True, check=True).stdout
    assert re.search(r"[(, ]Avro[,)]", features), features  # "Version 1.7.1-vq (JSON, Avro, .."
    return KCAT


async def _drive_a_queue(api: ApiClient) -> str:
    queue_id = await api.create_queue(prefix="A")
    first = await api.enqueue(queue_id, priority="vip", language="de", contact={"name": "Zoë"})
    await api.enqueue(queue_id)
    await api.post(f"/v1/queues/{queue_id}/call-next", "staff", json={"counter": "1"})
    ticket = first["ticket"]["ticket_id"]
    for step in ("start", "complete"):
        assert (await api.post(f"/v1/tickets/{ticket}/{step}", "staff")).status_code == 200
    await api.post(f"/v1/queues/{queue_id}/pause", "staff", json={"reason": "lunch"})
    return queue_id


def _confluent(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The test's settings as a deployment that opted in with VQ_EVENTS_WIRE_FORMAT=confluent."""
    monkeypatch.setenv("VQ_EVENTS_WIRE_FORMAT", "confluent")
    opted_in = Settings(**settings.model_dump(exclude_unset=True))
    assert opted_in.events_wire_format == "confluent"
    assert opted_in.events_topic == settings.events_topic
    return opted_in


async def _consume(
    kcat: Path, settings: Settings, *options: str
) -> subprocess.CompletedProcess[str]:
    """The whole events topic as kcat prints it: key, CloudEvents headers, decoded value."""
    command = [
        str(kcat),
        "-b",
        settings.kafka_servers,
        "-C",
        "-t",
        settings.events_topic,
        "-o",
        "beginning",
        "-e",
        "-q",
        "-s",
        "value=avro",
        "-r",
        settings.schema_registry_url,
        "-f",
        r"%k\t%h\t%s\n",  # kcat expands the escapes
        *options,
    ]
    result = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60, check=False
    )
    print(f"$ {shlex.join(command)}\n{result.stdout}{result.stderr}")  # `pytest -rP` shows it
    return result


def _schema(event_type: str, version: int) -> Any:
    text = (resources.files("schemas") / f"{event_type}.v{version}.avsc").read_text()
    return parse_schema(json.loads(text))


def _label(branch: Any) -> str:
    if isinstance(branch, str):
        return branch
    return str(branch["name"] if branch["type"] in ("record", "enum", "fixed") else branch["type"])


def _full_names(schema: Any, value: Any, named: dict[str, Any]) -> Any:
    """avro-c's JSON labels a union's record branch with its short name ("Contact"), the Avro
    spec with its full name ("dev.vq.events.Contact"): the spec's, for fastavro's JSON reader."""
    if isinstance(schema, str):
        return _full_names(named[schema], value, named) if schema in named else value
    if isinstance(schema, list):
        if value is None:
            return None
        ((label, inner),) = value.items()
        branch = next(b for b in schema if label in (_label(b), _label(b).rsplit(".", 1)[-1]))
        return {_label(branch): _full_names(branch, inner, named)}
    if schema["type"] in ("record", "enum", "fixed"):
        named[schema["name"]] = schema
    if schema["type"] == "record":
        return {
            f["name"]: _full_names(f["type"], value[f["name"]], named) for f in schema["fields"]
        }
    if schema["type"] == "array":
        return [_full_names(schema["items"], item, named) for item in value]
    if schema["type"] == "map":
        return {key: _full_names(schema["values"], item, named) for key, item in value.items()}
    return value


def _as_event(text: str, event_type: str, version: int) -> RecordedEvent:
    """The product's event from kcat's JSON of a value, read with that type's schema file."""
    schema = _schema(event_type, version)
    spec_json = json.dumps(_full_names(schema, json.loads(text), {}))
    (record,) = json_reader(io.StringIO(spec_json), schema)
    assert isinstance(record, dict)
    return recorded_from_avro(event_type, upcast(event_type, version, record))


def _headers(text: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in text.split(","))


async def test_kcat_decodes_the_events_with_the_registry_alone(
    api: ApiClient,
    settings: Settings,
    store: PostgresEventStore,
    topics: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kcat = _kcat()
    queue_id = await _drive_a_queue(api)
    events = await store.read_stream(queue_id)
    # The product's relay (`vq relay`'s composition root), in the Confluent wire format.
    opted_in = _confluent(settings, monkeypatch)
    stop = asyncio.Event()
    relay = asyncio.create_task(run_relay(opted_in, stop))
    try:
        published = await consume_until(settings, settings.events_topic, lambda r: len(r) >= 7)
    finally:
        stop.set()
        await asyncio.wait_for(relay, 10)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # run_relay's handlers go with it
            loop.remove_signal_handler(sig)
    assert [e.event_id for e in published] == [e.event_id for e in events]

    result = await _consume(kcat, settings)
    assert result.returncode == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == len(events), result.stdout

    decoded: list[tuple[str, dict[str, Any]]] = []
    for (key, header_text, value_text), event in zip(lines, events, strict=True):
        value = json.loads(value_text)
        headers = _headers(header_text)
        event_type = headers["ce_type"].removeprefix("dev.vq.queue.")
        version = int(headers["ce_vqschemaversion"])
        assert (event_type, version) == (event.event_type, event.schema_version)
        assert value["event_id"] == event.event_id == headers["ce_id"]
        assert value["stream_version"] == event.stream_version
        assert value["queue_id"] == key == queue_id
        assert value["tenant_id"] == api.tenant_id
        # Every field kcat decoded (with the writer schema found by the id alone) is the event
        # the store holds, not merely a record of the same shape.
        assert _as_event(value_text, event_type, version) == replace(event, global_position=None)
        decoded.append((event_type, value))
    assert [t for t, _ in decoded] == [
        "QueueCreated",
        "TicketEnqueued",
        "TicketEnqueued",
        "TicketCalled",
        "ServiceStarted",
        "TicketServed",
        "QueuePaused",
    ]
    # As kcat prints them (Avro's JSON encoding: a union's value wrapped in its branch's name).
    enqueued = decoded[1][1]
    assert enqueued["priority"] == "vip" and enqueued["language"] == {"string": "de"}
    assert enqueued["contact"] is None  # not written since v3: the details travel sealed
    ((branch, sealed),) = enqueued["personal"].items()
    assert branch == "PersonalData" and set(sealed) == {"key_id", "sealed"}
    assert "Zoë" not in str(enqueued)
    assert decoded[-1][1]["reason"] == {"string": "lunch"}


async def test_kcat_finds_the_schema_by_id_in_the_registry(
    settings: Settings, topics: list[str]
) -> None:
    """No schema is baked into the tool: a value framed with an id the registry does not know
    is reported as undecodable, not printed."""
    kcat = _kcat()
    producer = AIOKafkaProducer(**producer_config(settings.kafka_servers))
    await producer.start()
    try:
        framed = wire.frame(2_000_000_000, b"\x02")
        await producer.send_and_wait(settings.events_topic, framed, key=b"no-such-schema")
    finally:
        await producer.stop()
    result = await _consume(kcat, settings)
    assert result.returncode == 1  # kcat stops at the first record it cannot decode...
    assert [line.split("\t")[2] for line in result.stdout.splitlines()] == [""], result.stdout
    assert "Avro/Schema-registry message deserialization" in result.stderr, result.stderr
    assert "2000000000" in result.stderr, result.stderr
    passed_over = await _consume(kcat, settings, "-E")  # ...unless told to go on
    assert passed_over.returncode == 0 and "deserialization" in passed_over.stderr
