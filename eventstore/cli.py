"""`vq db migrate`, `vq relay` and `vq tenants create`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

import psycopg

from vq.settings import get_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="the event store's database")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    migrate = db_sub.add_parser("migrate", help="create or upgrade the event store schema")
    migrate.set_defaults(func=_migrate)

    relay = sub.add_parser("relay", help="publish committed events to Kafka (runs until stopped)")
    relay.set_defaults(func=_relay)

    tenants = sub.add_parser("tenants", help="tenants and their API keys")
    t_sub = tenants.add_subparsers(dest="tenants_command", metavar="ACTION", required=True)
    create = t_sub.add_parser("create", help="create a tenant; prints its id and an admin key")
    create.add_argument("name")
    create.set_defaults(func=_create_tenant)


def _migrate(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        applied = migrate_schema(settings.pg_url, settings.db_schema)
    except psycopg.OperationalError as exc:
        print(f"vq db migrate: PostgreSQL is not reachable ({exc}); start it with `vq stack up`",
              file=sys.stderr)
        return 1
    if applied:
        for name in applied:
            print(f"applied {name}")
    else:
        print(f"schema {settings.db_schema} is up to date")
    return 0


def migrate_schema(url: str, schema: str) -> list[str]:
    from eventstore.migrate import migrate

    return [f"{m.version:04d}_{m.name}" for m in migrate(url, schema)]


def _create_tenant(args: argparse.Namespace) -> int:
    from eventstore.pool import open_pool
    from eventstore.store import EventStore
    from eventstore.tenants import TenantDirectory

    settings = get_settings()
    migrate_schema(settings.pg_url, settings.db_schema)

    async def create() -> tuple[str, Any]:
        pool = await open_pool(settings, wait=True)
        try:
            return await TenantDirectory(EventStore(pool)).create_tenant(args.name)
        finally:
            await pool.close()

    tenant_id, issued = asyncio.run(create())
    print(f"tenant_id  {tenant_id}")
    print(f"admin_key  {issued.secret}")
    return 0


def _relay(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(run_relay())
    return 0


async def run_relay(stop: asyncio.Event | None = None) -> None:
    from aiokafka import AIOKafkaProducer

    from eventstore.pool import connect, open_pool
    from eventstore.relay import Relay, producer_config
    from eventstore.store import EventStore

    settings = get_settings()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    pool = await open_pool(settings, min_size=1, max_size=4)
    try:
        relay = Relay(
            EventStore(pool),
            lambda: connect(settings),
            lambda: AIOKafkaProducer(**producer_config(settings.kafka_servers)),
            settings.events_topic,
        )
        await relay.run(stop)
    finally:
        await pool.close()
