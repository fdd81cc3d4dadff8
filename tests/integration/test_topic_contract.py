"""What a consumer in any language sees on the topic: stock tools read keys and CloudEvents headers,
and the official `avro` library decodes every value with the schema file the headers name."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
from importlib import resources

import avro.io
import avro.schema
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from core.settings import Settings
from eventstore.pool import connect
from eventstore.postgres import PostgresEventStore
from eventstore.relay import Relay, producer_config
from tests.integration.conftest import ApiClient
from tests.integration.kafka_support import wait_for


async def _drive_a_queue(api: ApiClient) -> str:
    queue_id = await api.create_queue(prefix="K")
    first = await api.enqueue(
        queue_id, priority="vip", language="de", contact={"name": "Zoë"}, metadata={"desk": "3"}
    )
    await api.enqueue(queue_id)
    await api.post(f"/v1/queues/{queue_id}/call-next", "staff", json={"counter": "1"})
    ticket = first["ticket"]["ticket_id"]
    for step in ("start", "complete"):
        assert (await api.post(f"/v1/tickets/{ticket}/{step}", "staff")).status_code == 200
    await api.post(f"/v1/queues/{queue_id}/pause", "staff", json={"reason": "lunch"})
    return queue_id


async def _relay_everything(settings: Settings, store: PostgresEventStore, total: int) -> None:
    stop = asyncio.Event()
    relay = Relay(
        store,
        lambda: connect(settings),
        lambda: AIOKafkaProducer(**producer_config(settings.kafka_servers)),
        settings.events_topic,
    )
    task = asyncio.create_task(relay.run(stop))
    await wait_for(lambda: relay.published >= total)
    stop.set()
    await task


async def test_every_message_decodes_with_the_official_avro_library(
    api: ApiClient, settings: Settings, store: PostgresEventStore, topics: list[str]
) -> None:
    queue_id = await _drive_a_queue(api)
    total = len(await store.read_stream(queue_id))
    await _relay_everything(settings, store, total)

    consumer = AIOKafkaConsumer(
        settings.events_topic,
        bootstrap_servers=settings.kafka_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    decoded = []
    try:
        while len(decoded) < total:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    event_type = headers["ce_type"].removeprefix("dev.vq.queue.")
                    version = int(headers["ce_vqschemaversion"])
                    assert headers["ce_dataschema"] == f"urn:dev.vq:schema:{event_type}:{version}"
                    text = (
                        resources.files("schemas") / f"{event_type}.v{version}.avsc"
                    ).read_text()
                    reader = avro.io.DatumReader(avro.schema.parse(text))
                    value = reader.read(avro.io.BinaryDecoder(io.BytesIO(record.value)))
                    assert value["event_id"] == headers["ce_id"]
                    assert value["stream_version"] == int(headers["ce_vqstreamversion"])
                    assert record.key.decode() == value["queue_id"] == queue_id
                    decoded.append((event_type, value))
    finally:
        await consumer.stop()
    types = [t for t, _ in decoded]
    assert types == [
        "QueueCreated",
        "TicketEnqueued",
        "TicketEnqueued",
        "TicketCalled",
        "ServiceStarted",
        "TicketServed",
        "QueuePaused",
    ]
    enqueued = decoded[1][1]
    assert enqueued["language"] == "de" and enqueued["contact"] is None
    # The person's details travel sealed only: a key id and ciphertext, never the name.
    assert set(enqueued["personal"]) == {"key_id", "sealed"}
    assert "Zoë" not in str(enqueued)
    assert enqueued["metadata"] == {"desk": "3"} and enqueued["priority"] == "vip"


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is installed by `make test`")
async def test_kcat_reads_keys_and_cloudevents_headers(
    api: ApiClient, settings: Settings, store: PostgresEventStore, topics: list[str]
) -> None:
    queue_id = await _drive_a_queue(api)
    total = len(await store.read_stream(queue_id))
    await _relay_everything(settings, store, total)
    result = subprocess.run(
        [
            "kcat",
            "-b",
            settings.kafka_servers,
            "-t",
            settings.events_topic,
            "-C",
            "-e",
            "-o",
            "beginning",
            "-q",
            "-f",
            "%k\t%h\t%S\n",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [line.split("\t") for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == total
    versions = []
    for key, header_text, size in lines:
        assert key == queue_id and int(size) > 0
        headers = dict(pair.split("=", 1) for pair in header_text.split(","))
        for name in (
            "ce_id",
            "ce_type",
            "ce_source",
            "ce_specversion",
            "ce_time",
            "content-type",
            "ce_vqtenantid",
            "ce_vqstreamversion",
        ):
            assert headers.get(name), (name, headers)
        assert headers["ce_specversion"] == "1.0"
        assert headers["content-type"] == "application/avro"
        assert headers["ce_vqtenantid"] == api.tenant_id
        versions.append(int(headers["ce_vqstreamversion"]))
    assert versions == list(range(1, total + 1))
