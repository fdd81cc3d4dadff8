"""What the notification tests share: settings that let the pipeline reach loopback receivers
with a compressed retry schedule, the pipeline's topics, and the running notifier."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.settings import Settings
from deploy.topics import aensure_topics
from tests.integration.servers import Process

# Seconds before each retry: 3 retries, so 4 attempts in all, within a few seconds.
SCHEDULE = "0.5,1,1.5"


def reach_settings(settings: Settings, **more: Any) -> Settings:
    return settings.model_copy(
        update={
            "outbound_allow": "127.0.0.0/8",
            "delivery_schedule": SCHEDULE,
            "webhook_timeout_s": 1.0,
            **more,
        }
    )


async def delivery_topics(settings: Settings) -> None:
    """The pipeline's topics, beside the `topics` fixture's (which deletes them all after)."""
    await aensure_topics(settings, settings.delivery_topics, settings.kafka_partitions)


@contextmanager
def notifier(settings: Settings, stages: str | None = None) -> Iterator[Process]:
    process = Process(settings, "notifier", *(["--stages", stages] if stages else []))
    try:
        yield process
    finally:
        process.stop()
