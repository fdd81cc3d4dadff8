"""`vq projections rebuild --from-kafka`: rewind the workers' consumer group to the start of the
events topic, then delete the read models, so that the workers, started again, write every read
model anew from the topic.

Only with the workers stopped. A running worker keeps its partitions' positions and its queues'
states in memory: Kafka refuses an offset commit from outside a group that has members, and a
worker would not replay what it has already folded anyway. So the group is described first, and
the command refuses (deleting nothing) while it has members.

The order is what makes a failure harmless. The rewind is what can fail (a worker joining between
the check and the commit), so it comes before the delete: rewound but not deleted, the read models
are whole, and a replay passes over what they already hold (each write checks the stored version).
A worker that joins between the commit and the delete may fold part of the topic into read models
that are then deleted; the group is described again afterwards, and the command says so and how to
repair (a rebuild from the event store) instead of reporting success.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, for_code
from aiokafka.structs import OffsetAndMetadata
from redis.exceptions import RedisError

from core.settings import Settings
from projections.layout import Keys
from projections.rebuild import delete_all

REFUSED = 2  # the CLI's status for a request it would not carry out (nothing changed)
FAILED = 1
# A group in these states has no member: nobody holds its partitions or commits for it.
IDLE_STATES = frozenset({"Empty", "Dead"})
REQUEST_TIMEOUT_MS = 10_000
DELETE_SOCKET_TIMEOUT_S = 60  # the keys go in batches of 1,000 UNLINKs (freed in the background)
CLIENT_ID = "vq-projections-rebuild"
REPAIR = "run `vq projections rebuild` (it works with the workers running) to write them again"


@dataclass(frozen=True)
class Group:
    name: str
    state: str
    members: tuple[str, ...]  # "client id on host", one per member

    @property
    def idle(self) -> bool:
        return self.state in IDLE_STATES and not self.members

    def refusal(self) -> str:
        count = len(self.members)
        who = (
            f"has {count} member{'s' if count != 1 else ''} ({', '.join(self.members)})"
            if self.members
            else f"is {self.state}"
        )
        return (
            f"the workers' group {self.name} {who}: stop the workers (`vq worker`) first, or use "
            "`vq projections rebuild`, which works with them running; nothing was deleted"
        )


async def rebuild_from_kafka(settings: Settings) -> int:
    """Rewind the workers' group and delete the read models, or refuse; the exit status."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_servers,
        client_id=CLIENT_ID,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    try:
        try:
            await admin.start()
            status, partitions = await _rewind(admin, settings)
        except KafkaError as exc:
            _say(f"Kafka at {settings.kafka_servers}: {_name(exc)}; nothing was deleted")
            return FAILED
        if status is not None:
            return status
        return await _delete_then_verify(admin, settings, partitions)
    finally:
        await admin.close()


async def describe(admin: AIOKafkaAdminClient, group: str) -> Group:
    """The group's state and members, as the group's coordinator sees them."""
    # One group per request: aiokafka 0.14 decodes a version 3 answer with the version 2 schema
    # (no authorized_operations field), which goes wrong from the second group of an answer.
    for response in await admin.describe_consumer_groups([group]):
        for error_code, name, state, _, _, members, *_ in response.groups:
            if name != group:
                continue
            if error_code:
                raise for_code(error_code)(f"describing group {group}")
            return Group(name, state, tuple(f"{m[1]} on {m[2].lstrip('/')}" for m in members))
    return Group(group, "Dead", ())


async def _rewind(
    admin: AIOKafkaAdminClient, settings: Settings
) -> tuple[int | None, list[TopicPartition]]:
    """Refuse (a status) or commit offset 0 for the group on every partition (None)."""
    group = await describe(admin, settings.worker_group)
    if not group.idle:
        _say(group.refusal())
        return REFUSED, []
    partitions = await _partitions(admin, settings.events_topic)
    if not partitions:
        _say(f"topic {settings.events_topic} not found; nothing was deleted")
        return FAILED, []
    try:
        await _commit_start(settings, partitions)
    except KafkaError as exc:
        _say(
            f"the workers' group {group.name} was not rewound ({_name(exc)}: a worker joined it "
            "after the check, most likely): stop the workers (`vq worker`) and run this again; "
            "nothing was deleted"
        )
        return FAILED, []
    return None, partitions


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> list[TopicPartition]:
    if topic not in await admin.list_topics():  # describing a missing topic could create it
        return []
    described = await admin.describe_topics([topic])
    found = [t for t in described if t.get("topic") == topic and not t.get("error_code")]
    return [TopicPartition(topic, p["partition"]) for t in found for p in t["partitions"]]


async def _commit_start(settings: Settings, partitions: list[TopicPartition]) -> None:
    """Offset 0 committed for the group, from outside it: Kafka takes it only while the group
    has no member (else UnknownMemberId, which aiokafka raises as CommitFailedError)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        client_id=CLIENT_ID,
        group_id=settings.worker_group,
        enable_auto_commit=False,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    with _quiet("aiokafka"):  # its retries' log lines; the outcome is said once, by us
        await consumer.start()
        try:
            consumer.assign(partitions)  # manual assignment: commit without joining the group
            await consumer.commit({tp: OffsetAndMetadata(0, "") for tp in partitions})
        finally:
            await consumer.stop()


async def _delete_then_verify(
    admin: AIOKafkaAdminClient, settings: Settings, partitions: list[TopicPartition]
) -> int:
    group = settings.worker_group
    client = aioredis.Redis.from_url(settings.redis_dsn, socket_timeout=DELETE_SOCKET_TIMEOUT_S)
    try:
        await delete_all(client, Keys(settings.redis_prefix))
    except (RedisError, OSError) as exc:
        _say(f"group {group} rewound, but the read models were not all deleted ({exc}): {REPAIR}")
        return FAILED
    finally:
        await client.aclose()
    try:
        undisturbed = await _still_rewound(admin, group, partitions)
    except KafkaError as exc:
        undisturbed = False
        _say(f"Kafka at {settings.kafka_servers}: {_name(exc)}")
    if not undisturbed:
        _say(
            f"read models deleted, but a worker may have joined group {group} meanwhile and "
            f"passed over events: {REPAIR}"
        )
        return FAILED
    print(
        f"group {group} rewound on {len(partitions)} partitions and read models deleted: "
        "start the workers to rebuild from Kafka"
    )
    return 0


async def _still_rewound(
    admin: AIOKafkaAdminClient, group: str, partitions: list[TopicPartition]
) -> bool:
    """No member in the group and its offsets still 0: no worker folded part of the topic into
    read models the delete then removed (one that came and went would have committed)."""
    if not (await describe(admin, group)).idle:
        return False
    committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
    return all(committed.get(tp, OffsetAndMetadata(0, "")).offset in (0, -1) for tp in partitions)


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _name(exc: KafkaError) -> str:
    return type(exc).__name__


def _say(line: str) -> None:
    print(f"vq projections: {line}", file=sys.stderr)
