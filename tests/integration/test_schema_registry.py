"""The schema registry: every event schema registered with BACKWARD compatibility, the Confluent
wire format as an opt-in, and an incompatible schema refused (its events held back, not sent).

Needs the registry of `vq stack up` (deploy/schema_registry.py) at VQ_REGISTRY_URL."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from io import BytesIO
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastavro import parse_schema, schemaless_reader

from core.settings import Settings
from domain.events import QueueCreated
from eventstore.pool import connect
from eventstore.postgres import PostgresEventStore
from eventstore.relay import Relay, producer_config
from schemas import registry, wire
from tests.contract.eventstore import append, created, enqueued
from tests.integration.kafka_support import consume_until, wait_for
from topics import metrics
from topics.event_schemas import Publication, WireFormat, subject
from topics.registry_client import RegistryClient


@pytest.fixture
async def schema_registry(settings: Settings) -> Any:
    client = RegistryClient(settings.schema_registry_url)
    try:
        await client.subjects()
    except ConnectionError as exc:
        pytest.fail(f"no schema registry at {settings.schema_registry_url} ({exc}): vq stack up")
    yield client
    await client.aclose()


def _relay(
    settings: Settings, store: PostgresEventStore, schemas: Publication
) -> tuple[Relay, asyncio.Event]:
    relay = Relay(
        store,
        lambda: connect(settings),
        lambda: AIOKafkaProducer(**producer_config(settings.kafka_servers)),
        settings.events_topic,
        schemas=schemas,
    )
    return relay, asyncio.Event()


async def _raw(settings: Settings, at_least: int, timeout: float = 30) -> list[Any]:
    consumer = AIOKafkaConsumer(
        settings.events_topic,
        bootstrap_servers=settings.kafka_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    found: list[Any] = []
    try:
        async with asyncio.timeout(timeout):
            quiet = 0  # then until a second passes with nothing new: all there is, not a part
            while len(found) < at_least or quiet < 5:
                batches = await consumer.getmany(timeout_ms=200)
                quiet = 0 if batches else quiet + 1
                for records in batches.values():
                    found.extend(records)
    finally:
        await consumer.stop()
    return found


async def _fill(store: PostgresEventStore, tenant_id: str, queues: int, tickets: int) -> None:
    for _ in range(queues):
        queue_id = str(uuid.uuid4())
        await append(store, queue_id, tenant_id, 0, [created(queue_id, tenant_id)])
        await append(store, queue_id, tenant_id, 1, [enqueued(n) for n in range(1, tickets + 1)])


async def test_confluent_format_is_read_by_schema_id_alone(
    settings: Settings,
    store: PostgresEventStore,
    tenant_id: str,
    topics: list[str],
    schema_registry: RegistryClient,
) -> None:
    schemas = Publication(schema_registry, settings.events_topic, "confluent")
    relay, stop = _relay(settings, store, schemas)
    task = asyncio.create_task(relay.run(stop))
    await _fill(store, tenant_id, queues=3, tickets=4)
    raw = await _raw(settings, at_least=15)
    decoded = await consume_until(settings, settings.events_topic, lambda r: len(r) >= 15)
    stop.set()
    await asyncio.wait_for(task, 10)

    # Every shipped version is registered under <topic>-<record name>, BACKWARD.
    shipped = registry.versions()
    assert set(schemas.registration.ids) == set(shipped) and not schemas.registration.refused
    for event_type in {name for name, _ in shipped}:
        level = await schema_registry.compatibility(subject(settings.events_topic, event_type))
        assert level == "BACKWARD"
    # A reader that knows nothing but the registry: magic byte, id, body; the id's schema
    # decodes the body to the end, and it is the very schema the CloudEvents headers name.
    by_id: dict[int, Any] = {}
    for record in raw:
        assert record.value[0] == wire.MAGIC
        schema_id, body = wire.unframe(record.value)
        if schema_id not in by_id:
            by_id[schema_id] = parse_schema(json.loads(await schema_registry.schema(schema_id)))
        stream = BytesIO(body)
        value = schemaless_reader(stream, by_id[schema_id], None)
        assert stream.tell() == len(body)
        headers = {name: raw_value.decode() for name, raw_value in record.headers}
        assert isinstance(value, dict) and value["event_id"] == headers["ce_id"]
        assert value["queue_id"] == record.key.decode()
        event_type = headers["ce_type"].removeprefix("dev.vq.queue.")
        version = int(headers["ce_vqschemaversion"])
        assert schemas.registration.ids[event_type, version] == schema_id
    assert len(by_id) == 2  # the newest QueueCreated and TicketEnqueued
    # The product's own decoder reads the framed values too.
    assert {e.event_id for e in decoded} == {dict(r.headers)["ce_id"].decode() for r in raw}


async def test_plain_stays_the_default_and_registers_in_the_background(
    settings: Settings,
    store: PostgresEventStore,
    tenant_id: str,
    topics: list[str],
    schema_registry: RegistryClient,
) -> None:
    assert settings.events_wire_format == "plain"
    schemas = Publication(schema_registry, settings.events_topic, settings.events_wire_format)
    relay, stop = _relay(settings, store, schemas)
    task = asyncio.create_task(relay.run(stop))
    await _fill(store, tenant_id, queues=1, tickets=2)
    raw = await _raw(settings, at_least=3)
    await wait_for(lambda: len(schemas.registration.ids) == len(registry.versions()))
    stop.set()
    await asyncio.wait_for(task, 10)
    await schemas.aclose()
    assert all(not wire.is_framed(record.value) for record in raw)
    name = subject(settings.events_topic, "QueueCreated")
    async with httpx.AsyncClient(base_url=schema_registry.base_url, timeout=10) as http:
        every = list(range(1, QueueCreated.VERSION + 1))  # each version of the type, registered
        assert (await http.get(f"/subjects/{name}/versions")).json() == every


def _incompatible(event_type: str, version: int) -> str:
    """The shipped schema plus a field with no default: old records cannot be read with it."""
    schema = json.loads(registry.schema_file(event_type, version).text)
    schema["fields"].append({"name": "badge_colour", "type": "string"})
    return json.dumps(schema)


async def test_an_incompatible_schema_is_refused_and_its_events_wait(
    settings: Settings,
    store: PostgresEventStore,
    tenant_id: str,
    topics: list[str],
    schema_registry: RegistryClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A build whose TicketEnqueued v2 broke compatibility with v1.
    broken = {("TicketEnqueued", 2): _incompatible("TicketEnqueued", 2)}
    wire_format: WireFormat = "confluent"
    schemas = Publication(schema_registry, settings.events_topic, wire_format, overrides=broken)
    relay, stop = _relay(settings, store, schemas)
    with caplog.at_level(logging.ERROR, logger="vq.relay.schemas"):
        task = asyncio.create_task(relay.run(stop))
        await _fill(store, tenant_id, queues=2, tickets=3)
        raw = await _raw(settings, at_least=1)
        await asyncio.sleep(2.0)  # time to publish more, if it would
        stop.set()
        await asyncio.wait_for(task, 10)
    refusal = schemas.registration.refused[("TicketEnqueued", 2)]
    assert "409" in refusal and "badge_colour" in refusal
    # The registry itself says no to it, whoever asks.
    with pytest.raises(Exception, match="409"):
        await schema_registry.register(
            subject(settings.events_topic, "TicketEnqueued"), broken[("TicketEnqueued", 2)]
        )
    # Only what precedes the first TicketEnqueued went out: the first queue's QueueCreated.
    raw = await _raw(settings, at_least=1)
    types = [dict(r.headers)["ce_type"].decode() for r in raw]
    assert types == ["dev.vq.queue.QueueCreated"]
    assert relay.published == 1
    sample = metrics.SCHEMA_REFUSED.labels("TicketEnqueued")._value.get()
    assert sample == 1
    assert any("TicketEnqueued v2" in r.getMessage() for r in caplog.records)
    assert any("holds back" in r.getMessage() for r in caplog.records)


async def _register(http: httpx.AsyncClient, name: str, schema: dict[str, Any]) -> httpx.Response:
    """POST a version as a client does, asked again on Apicurio's 409 "already exists" (its
    registration racing its own previous write on a busy box: one run in three with three test
    workers), as topics/registry_client.py `register` does; any other answer as it came."""
    for _ in range(3):
        answer = await http.post(f"/subjects/{name}/versions", json={"schema": json.dumps(schema)})
        if answer.status_code != 409 or "already exists" not in answer.text:
            return answer
        await asyncio.sleep(0.2)
    return answer


async def test_the_registry_api_is_confluent_compatible(schema_registry: RegistryClient) -> None:
    """What kcat, Connect's converters and the Java/Go serializers call, answered as Confluent's
    registry answers (paths, media type, ids, 409 on an incompatible version)."""
    name = f"conformance-{uuid.uuid4().hex[:8]}-value"
    v1 = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}
    v2 = {**v1, "fields": [*v1["fields"], {"name": "b", "type": "int", "default": 0}]}
    v3 = {**v1, "fields": [*v1["fields"], {"name": "c", "type": "int"}]}
    base = schema_registry.base_url
    kind = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
    async with httpx.AsyncClient(base_url=base, headers=kind, timeout=10) as http:
        put = await http.put(f"/config/{name}", json={"compatibility": "BACKWARD"})
        assert put.status_code == 200 and put.json() == {"compatibility": "BACKWARD"}
        first = await _register(http, name, v1)
        again = await _register(http, name, v1)
        assert first.status_code == 200 and again.json() == first.json()
        second = await _register(http, name, v2)
        assert second.status_code == 200 and second.json()["id"] != first.json()["id"]
        third = await _register(http, name, v3)
        assert third.status_code == 409
        by_id = await http.get(f"/schemas/ids/{first.json()['id']}")
        assert json.loads(by_id.json()["schema"]) == v1
        versions = await http.get(f"/subjects/{name}/versions")
        assert versions.json() == [1, 2]
        latest = await http.get(f"/subjects/{name}/versions/latest")
        assert latest.json()["version"] == 2 and latest.json()["subject"] == name
