"""`vq notifier` whose topics do not exist (a VQ_TOPIC_PREFIX nobody made topics for): it says
which are missing and how to make them, stops at once on SIGTERM while it waits for them, and
gives up after a while with that line, not a traceback. The real process on the shared Kafka,
with the test's own prefix (the `settings` fixture makes no topics)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.settings import Settings
from deploy import procs
from notifications.consuming import MissingTopics, wait_for_topics
from tests.integration.servers import settings_env


@contextmanager
def _notifier(settings: Settings, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vq.cli", "notifier"],
            env=settings_env(settings),
            stdout=out,
            stderr=out,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=15)


def _says_what_is_missing(settings: Settings, text: str) -> bool:
    return (
        f"has no topic {settings.positions_topic}, {settings.events_topic}, " in text
        and f"more (VQ_TOPIC_PREFIX={settings.topic_prefix})" in text
        and "`vq stack up`" in text
        and "`vq stack topics`" in text
    )


def test_sigterm_stops_a_notifier_waiting_for_its_topics_at_once(
    settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "notifier.log"
    with _notifier(settings, log) as proc:
        named = procs.wait_until(
            lambda: _says_what_is_missing(settings, log.read_text()), timeout=30
        )
        assert named, log.read_text()
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        took = time.monotonic() - signalled
    text = log.read_text()
    assert proc.returncode == 0, text
    assert took < 5, (took, text)
    assert "SIGTERM: stopping" in text, text
    assert "Traceback" not in text and "Unclosed" not in text, text


def test_a_notifier_left_waiting_gives_up_with_one_line(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "notifier.log"
    impatient = settings.model_copy(update={"notifier_topics_wait_s": 3.0})
    with _notifier(impatient, log) as proc:
        proc.wait(timeout=90)
    text = log.read_text()
    assert proc.returncode == 1, text
    assert "giving up: " in text and _says_what_is_missing(settings, text), text
    assert "Traceback" not in text and "UnknownTopicOrPartitionError" not in text, text


async def test_waiting_for_topics_names_the_missing_ones(settings: Settings) -> None:
    with pytest.raises(MissingTopics) as raised:
        await wait_for_topics(settings, [settings.positions_topic], asyncio.Event(), wait_s=1)
    assert str(raised.value).startswith(f"Kafka at {settings.kafka_servers} has no topic "
                                        f"{settings.positions_topic} ")  # fmt: skip
    stop = asyncio.Event()
    stop.set()
    await asyncio.wait_for(wait_for_topics(settings, [settings.positions_topic], stop), 5)
