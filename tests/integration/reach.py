"""What the notification tests share: settings that let the pipeline reach loopback receivers
with a compressed retry schedule, the pipeline's topics, and the running notifier."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from core.settings import Settings
from deploy.topics import aensure_topics
from tests.integration.servers import Process, read_side, settings_env

if TYPE_CHECKING:
    from tests.integration.conftest import ApiClient

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


def receiving(settings: Settings, smtp: Any, provider: Any = None, **more: Any) -> Settings:
    """`reach_settings` aimed at the test's SMTP server and, given one, its SMS provider (the
    receivers of tests/receivers/, with the credentials conftest's `provider` fixture uses)."""
    from tests.integration.conftest import PROVIDER_SID, PROVIDER_TOKEN

    aimed: dict[str, Any] = {"smtp_host": smtp.host, "smtp_port": smtp.port}
    if provider is not None:
        aimed |= {"sms_base_url": provider.url, "sms_account_sid": PROVIDER_SID,
                  "sms_auth_token": PROVIDER_TOKEN}  # fmt: skip
    return reach_settings(settings, **aimed, **more)


@asynccontextmanager
async def pipeline_running(settings: Settings) -> AsyncIterator[None]:
    """The delivery topics made (the test's `topics` fixture deletes them after), then the
    relay, a stream worker and the notifier running for the block."""
    await delivery_topics(settings)
    with read_side(settings), notifier(settings):
        yield


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


def replay_dead(settings: Settings) -> str:
    """`vq notifications replay --dead`, as an operator runs it; what it printed."""
    replayed = subprocess.run(
        [sys.executable, "-m", "vq.cli", "notifications", "replay", "--dead"],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return replayed.stdout + replayed.stderr


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Until `check()` holds; an AssertionError naming `what` after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {what} within {timeout:g} s")
        await asyncio.sleep(0.05)


def notifications_status(settings: Settings) -> dict[str, int]:
    """What `vq notifications status` prints, as its operator reads it: count by name."""
    shown = subprocess.run(
        [sys.executable, "-m", "vq.cli", "notifications", "status"],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return {name: int(value) for name, value in (line.split() for line in shown.splitlines())}


async def quiet_for(seconds: float = 2.0) -> None:
    """Long enough for a message that should not come to have come."""
    await asyncio.sleep(seconds)


async def settled_delivery(api: ApiClient, endpoint_id: str) -> dict[str, Any]:
    """The webhook endpoint's one message once it is no longer on its way (sending, retrying):
    the notifier writes an attempt's outcome after the receiver answered it."""
    deadline = time.monotonic() + 10
    while True:
        log = await api.http.get(
            f"/v1/webhooks/endpoints/{endpoint_id}/deliveries", headers=api.auth()
        )
        assert log.status_code == 200, log.text
        [message] = log.json()["deliveries"]
        if message["status"] not in ("sending", "retrying") or time.monotonic() > deadline:
            return dict(message)
        await asyncio.sleep(0.1)
