"""The relay process's composition root (`vq relay`): publish committed events to Kafka."""

from __future__ import annotations

import argparse
import asyncio
import signal

import uvloop
from aiokafka import AIOKafkaProducer

from core.kafka_reconnects import pace_reconnects
from core.settings import Settings, get_settings
from eventstore.pool import connect, open_pool
from eventstore.postgres import PostgresEventStore
from eventstore.relay import Relay, producer_config
from observability import metrics, tracing
from observability.logs import configure_logging
from topics.event_schemas import Publication
from topics.registry_client import RegistryClient


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    relay = sub.add_parser("relay", help="publish committed events to Kafka (runs until stopped)")
    metrics.port_argument(relay)
    relay.set_defaults(func=_relay)


def _relay(args: argparse.Namespace) -> int:
    settings = get_settings()
    configure_logging("relay", settings)
    tracing.configure_tracing("relay", settings)
    metrics.serve(args.metrics_port or settings.metrics_port, settings.metrics_host, "relay")
    # uvloop: the event loop was two thirds of the relay's samples (a wake-up, a read and a
    # produce request per commit or two; bench/README section 16).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run_relay(settings))
    return 0


async def run_relay(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Publish until SIGINT, SIGTERM or `stop`."""
    stop = stop or asyncio.Event()
    pace_reconnects()  # a Kafka that is away is not asked every 100 ms (core/kafka_reconnects)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    pool = await open_pool(settings, min_size=1, max_size=4)
    registry = RegistryClient(settings.schema_registry_url)
    schemas = Publication(registry, settings.events_topic, settings.events_wire_format)
    try:
        store = PostgresEventStore(pool)
        relay = Relay(
            store,
            lambda: connect(settings),
            lambda: AIOKafkaProducer(**producer_config(settings.kafka_servers)),
            settings.events_topic,
            traces=store.trace_parents if tracing.enabled() else None,
            schemas=schemas,
        )
        await relay.run(stop)
    finally:
        await schemas.aclose()
        await registry.aclose()
        await pool.close()
