"""Kafka topics are the project's to create (auto-creation is off): make them, and probe Kafka.

`ensure_topics` is what `vq stack up` calls and what tests may reuse; it works from plain code and
from inside a running event loop (it then runs on a thread of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from core.settings import Settings
from deploy.errors import StackError

_T = TypeVar("_T")
_NO_ERROR, _TOPIC_EXISTS, _UNKNOWN_TOPIC = 0, 36, 3


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    created: bool  # by this call


@contextlib.contextmanager
def _quiet_aiokafka() -> Iterator[None]:
    """aiokafka logs every refused connection at ERROR; while probing that is expected."""
    logger = logging.getLogger("aiokafka")
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)


def _run(make: Callable[[], Awaitable[_T]]) -> _T:
    async def main() -> _T:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


async def _admin(bootstrap: str) -> AIOKafkaAdminClient:
    client = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="vq-stack", request_timeout_ms=10_000
    )
    try:
        await asyncio.wait_for(client.start(), timeout=5)
    except BaseException:
        await client.close()
        raise
    return client


async def _answers(bootstrap: str) -> bool:
    try:
        client = await _admin(bootstrap)
    except (KafkaError, OSError, TimeoutError):
        return False
    try:
        await asyncio.wait_for(client.list_topics(), timeout=5)
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await client.close()
    return True


def kafka_answers(bootstrap: str) -> bool:
    """Does a broker answer a metadata request at `bootstrap`?"""
    with _quiet_aiokafka():
        return _run(lambda: _answers(bootstrap))


async def aensure_topics(
    settings: Settings, names: Sequence[str], partitions: int, *, bootstrap: str | None = None
) -> list[Topic]:
    """Create the missing topics (replication 1: one broker); leave existing ones as they are.

    An existing topic keeps its partition count even if `partitions` differs: changing it would
    move queues to other partitions and break the per-queue order.
    """
    client = await _admin(bootstrap or settings.kafka_servers)
    try:
        existing = set(await client.list_topics())
        missing = [name for name in names if name not in existing]
        if missing:
            response = await client.create_topics(
                [NewTopic(name, partitions, 1) for name in missing]
            )
            for name, code, message in response.topic_errors:
                if code not in (_NO_ERROR, _TOPIC_EXISTS):
                    raise StackError(f"Kafka refused to create topic {name}: {message or code}")
        counts = await _partition_counts(client, names)
    finally:
        await client.close()
    return [Topic(name, counts[name], name in missing) for name in names]


async def _partition_counts(client: AIOKafkaAdminClient, names: Sequence[str]) -> dict[str, int]:
    for _ in range(50):  # a topic just created may take a moment to appear in the metadata
        described = await client.describe_topics(list(names))
        if all(item["error_code"] != _UNKNOWN_TOPIC for item in described):
            return {item["topic"]: len(item["partitions"]) for item in described}
        await asyncio.sleep(0.1)
    raise StackError(f"topics {', '.join(names)} did not appear in Kafka's metadata")


def ensure_topics(
    settings: Settings, names: Sequence[str], partitions: int, *, bootstrap: str | None = None
) -> list[Topic]:
    """Blocking form of `aensure_topics`, usable from sync code and from inside an event loop."""
    try:
        return _run(lambda: aensure_topics(settings, names, partitions, bootstrap=bootstrap))
    except (KafkaError, OSError, TimeoutError) as exc:
        where = bootstrap or settings.kafka_servers
        raise StackError(f"cannot reach Kafka at {where} to create topics: {exc!r}") from exc
