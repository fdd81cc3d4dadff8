"""`vq stack` against the shared stack: read-only checks, it is never stopped here."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka.admin import AIOKafkaAdminClient

from core.settings import Settings
from deploy import ensure_topics
from tests.deploy.conftest import Result, vq


def test_status_exits_0_when_all_are_up(shared_stack: Result) -> None:
    result = vq("stack", "status")
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["postgresql", "up"],
        ["redis", "up"],
        ["kafka", "up"],
        ["registry", "up"],
    ]


def test_second_up_is_a_quick_no_op_with_the_same_summary(shared_stack: Result) -> None:
    again = vq("stack", "up")
    assert again.returncode == 0, again.stderr
    summary = again.stdout.splitlines()
    assert len(summary) == 4  # nothing started, nothing created: only the summary
    assert summary == shared_stack.stdout.splitlines()[-4:]
    assert "postgresql://vq:vq@127.0.0.1:" in summary[0]
    assert ".queue-events[" in summary[2]
    assert "/apis/ccompat/v7" in summary[3]
    assert again.seconds < 10


def test_logs_show_each_service(shared_stack: Result) -> None:
    result = vq("stack", "logs", "-n", "1")
    assert result.returncode == 0, result.stderr
    for name in ("postgresql.log", "redis.log", "server.log", "registry.out"):
        assert name in result.stdout


def _delete_topic(settings: Settings, name: str) -> None:
    async def delete() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
        await admin.start()
        try:
            await admin.delete_topics([name])
        finally:
            await admin.close()

    asyncio.run(delete())


def test_ensure_topics_creates_once_with_the_partitions_asked(shared_stack: Result) -> None:
    settings = Settings()
    name = f"test-deploy-{uuid.uuid4().hex[:12]}"
    try:
        first = ensure_topics(settings, [name], 3)
        second = ensure_topics(settings, [name], 5)  # existing topics are left as they are
        assert [(t.name, t.partitions, t.created) for t in first] == [(name, 3, True)]
        assert [(t.name, t.partitions, t.created) for t in second] == [(name, 3, False)]
    finally:
        _delete_topic(settings, name)


async def test_ensure_topics_works_inside_a_running_event_loop(shared_stack: Result) -> None:
    settings = Settings()
    made = ensure_topics(settings, [settings.events_topic], settings.kafka_partitions)
    assert made[0].created is False
    assert made[0].partitions >= 1
