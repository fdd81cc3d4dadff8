"""Real PostgreSQL, Kafka and Redis for every test that needs them.

Where they come from, in order: environment variables (VQ_DATABASE_URL, VQ_REDIS_URL,
VQ_KAFKA_BOOTSTRAP) when set; testcontainers when a Docker engine answers; otherwise the native
stack that `make test` starts (`vq stack up`). Each test gets fresh names (a PostgreSQL schema, a
topic prefix, a Redis key prefix), so tests never see each other's data and nothing is truncated.

The session runs as development (VQ_ENV=dev: the placeholder secrets are accepted), set before
any test module builds a `Settings`; the `vq` subprocesses tests start inherit it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from core.settings import Settings
from eventstore.migrate import migrate

# Settings are read when built, never at import: this is before any test builds one.
os.environ["VQ_ENV"] = "dev"


ROOT = Path(__file__).resolve().parents[1]


def _docker_answers() -> bool:
    if os.environ.get("VQ_TESTS_NO_DOCKER") or shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _containers(stack: ExitStack) -> dict[str, str]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    pg = stack.enter_context(PostgresContainer("postgres:16", driver=None))
    redis = stack.enter_context(RedisContainer("redis:7"))
    kafka = stack.enter_context(KafkaContainer("apache/kafka:4.1.0").with_kraft())
    return {
        "VQ_DATABASE_URL": pg.get_connection_url(),
        "VQ_REDIS_URL": f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0",
        "VQ_KAFKA_BOOTSTRAP": kafka.get_bootstrap_server(),
    }


# The unit tests' few long files (the simulator's: one planner test alone takes 20 s or more)
# before their many short ones, so make test's workers end together (it once ended 20 s apart,
# the simulator's files last).
LONG_UNITS = "tests/unit/simulation/"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        if not item.nodeid.startswith("tests/unit/"):
            return 0
        return 1 if item.nodeid.startswith(LONG_UNITS) else 2

    items.sort(key=rank)  # stable: collection order otherwise


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test` (`-n N --dist loadgroup`): a file's tests in one worker, the browser's in
    one worker together (tests/scheduling.py). Tests marked `serial` stop a shared server: make
    test runs them alone, after the others."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.scheduling import ByFile

    return ByFile(config, log)


@pytest.fixture(scope="session")
def stack_env() -> Iterator[dict[str, str]]:
    """Connection settings of the servers this test session uses."""
    keys = ("VQ_DATABASE_URL", "VQ_REDIS_URL", "VQ_KAFKA_BOOTSTRAP")
    if all(os.environ.get(k) for k in keys):
        yield {k: os.environ[k] for k in keys}
        return
    if _docker_answers():
        with ExitStack() as stack:
            yield _containers(stack)
        return
    local = Settings()
    yield {
        "VQ_DATABASE_URL": local.pg_url,
        "VQ_REDIS_URL": local.redis_dsn,
        "VQ_KAFKA_BOOTSTRAP": local.kafka_servers,
    }


def fresh_settings(stack_env: dict[str, str], **overrides: Any) -> Settings:
    """Settings on the test stack naming a schema, topic prefix and key prefix of their own
    (not made yet: the `settings` fixture migrates the schema)."""
    suffix = uuid.uuid4().hex[:12]
    values: dict[str, Any] = {
        "database_url": stack_env["VQ_DATABASE_URL"],
        "redis_url": stack_env["VQ_REDIS_URL"],
        "kafka_bootstrap": stack_env["VQ_KAFKA_BOOTSTRAP"],
        "db_schema": f"test_{suffix}",
        "topic_prefix": f"test-{suffix}",
        "redis_prefix": f"test:{suffix}",
        "kafka_partitions": 3,
        # Tests send bursts of thousands of requests from one address and one key; the rate
        # limiter's own tests put the product's default (1,000 a minute) back.
        "rate_limit_per_minute": 1_000_000,
    }
    return Settings(**{**values, **overrides})


@pytest.fixture
def settings(stack_env: dict[str, str]) -> Iterator[Settings]:
    """Settings naming a fresh, migrated PostgreSQL schema and fresh topic and key prefixes."""
    test_settings = fresh_settings(stack_env)
    migrate(test_settings.pg_url, test_settings.db_schema)
    yield test_settings
    drop_schema(test_settings)


def drop_schema(settings: Settings) -> None:
    """Drop the settings' PostgreSQL schema and all in it."""
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(settings.db_schema))
        )


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[Any]:
    from eventstore.pool import open_pool

    pg_pool = await open_pool(settings, wait=True)
    try:
        yield pg_pool
    finally:
        await pg_pool.close()


@pytest.fixture
async def store(pool: Any) -> Any:
    from eventstore.postgres import PostgresEventStore

    return PostgresEventStore(pool)


@pytest.fixture
def tenant_id(settings: Settings) -> str:
    """A tenant row the event store's foreign keys accept."""
    tid = str(uuid.uuid4())
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {}.tenants (tenant_id, name) VALUES (%s, %s)").format(
                sql.Identifier(settings.db_schema)
            ),
            (tid, "test tenant"),
        )
    return tid


@pytest.fixture
async def topics(settings: Settings) -> AsyncIterator[list[str]]:
    """The test's own Kafka topics, created as `vq stack up` creates the real ones, then deleted."""
    yield await make_topics(settings)
    await drop_topics(settings)


async def make_topics(settings: Settings) -> list[str]:
    """The settings' events and positions topics, made as `vq stack up` makes the real ones."""
    from deploy.topics import aensure_topics

    names = [settings.events_topic, settings.positions_topic]
    await aensure_topics(settings, names, settings.kafka_partitions)
    return names


async def drop_topics(settings: Settings) -> None:
    """Every topic under the settings' prefix, and the stream workers' Faust folder."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        mine = [
            t
            for t in existing
            if t.startswith(settings.topic_prefix + ".")
            or t.startswith(settings.topic_prefix + "-")
        ]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()
    # The stream workers' Faust folder (see streams/app.py) goes with the topics.
    shutil.rmtree(settings.data_dir / "faust" / settings.worker_group, ignore_errors=True)
