"""The Kafka Connect example (deploy/connect_worker.py): a standalone worker whose file sink
reads the events topic through the registry's Avro converter, i.e. the Java Avro deserializer
finding each record's writer schema by the id of the Confluent wire format."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from core.settings import Settings
from deploy.connect_worker import command
from domain.events import QueueEvent
from eventstore.pool import connect
from eventstore.postgres import PostgresEventStore
from eventstore.relay import Relay, producer_config
from tests.contract.eventstore import append, created, enqueued
from topics.event_schemas import Publication
from topics.registry_client import RegistryClient


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _read_lines(out: Path) -> list[str]:
    return out.read_text().splitlines() if out.exists() else []


async def _lines(out: Path, want: int, proc: subprocess.Popen[Any], timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = await asyncio.to_thread(_read_lines, out)
        if len(lines) >= want:
            return lines
        if proc.poll() is not None:
            pytest.fail(f"Kafka Connect exited ({proc.returncode}) with {len(lines)} lines")
        assert time.monotonic() < deadline, f"{len(lines)} of {want} records in {out}"
        await asyncio.sleep(0.5)


async def test_the_file_sink_reads_the_events_by_schema_id(
    settings: Settings,
    store: PostgresEventStore,
    tenant_id: str,
    topics: list[str],
    tmp_path: Path,
) -> None:
    client = RegistryClient(settings.schema_registry_url)
    schemas = Publication(client, settings.events_topic, "confluent")
    relay = Relay(
        store,
        lambda: connect(settings),
        lambda: AIOKafkaProducer(**producer_config(settings.kafka_servers)),
        settings.events_topic,
        schemas=schemas,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    queue = str(uuid.uuid4())
    tickets = [enqueued(n) for n in range(1, 6)]
    await append(store, queue, tenant_id, 0, [created(queue, tenant_id)])
    await append(store, queue, tenant_id, 1, list[QueueEvent](tickets))

    out = tmp_path / "queue-events.txt"
    cmd = await asyncio.to_thread(command, settings, tmp_path, out, _free_port())
    log = (tmp_path / "connect.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        lines = await _lines(out, 6, proc, timeout=120)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)  # reaped: a Popen collected while running is a ResourceWarning
        log.close()
        stop.set()
        await asyncio.wait_for(task, 10)
        await client.aclose()
    # Connect's Struct, field by field: what the Avro converter decoded with the schema it
    # fetched by id (the sink writes each record's value on a line of its own).
    assert len(lines) == 6, lines
    assert lines[0].startswith("Struct{") and f"queue_id={queue}" in lines[0]
    assert "name=q" in lines[0]  # QueueCreated's config record, nested
    for ticket, line in zip(tickets, lines[1:], strict=True):
        assert f"ticket_id={ticket.ticket_id}" in line and f"number={ticket.number}" in line
        assert f"tenant_id={tenant_id}" in line
