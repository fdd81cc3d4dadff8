"""The notifier process's composition root (`vq notifier`): the notifier, the channel workers,
the retry relay and the schedules, in one process or split across several (`--stages`).

Run as many as you like: each stage is a Kafka consumer group (partitions are shared out), and
the schedules fire each occurrence once whichever replica gets there first.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core import collector
from core.settings import Settings, get_settings
from observability import metrics, tracing
from observability.logs import configure_logging

if TYPE_CHECKING:
    from notifications.alerting import Alerts
    from notifications.channels.port import Sender
    from notifications.outbound import Outbound

STAGES = ("notifier", "deliver", "retry", "schedules", "alerts")
# Middle-generation collections between two full ones (CPython: 10): see core/collector.py.
FULL_GC_EVERY = 100
log = logging.getLogger("vq.notifications")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    notifier = sub.add_parser(
        "notifier", help="tell people and systems: notifications and webhooks (runs until stopped)"
    )
    notifier.add_argument(
        "--stages",
        default=",".join(STAGES),
        help=f"which stages to run, comma-separated (default: all of {', '.join(STAGES)})",
    )
    metrics.port_argument(notifier)
    notifier.set_defaults(func=_notifier)

    notes = sub.add_parser("notifications", help="the delivery state: status, replay")
    verbs = notes.add_subparsers(dest="verb", metavar="VERB", required=True)
    status = verbs.add_parser("status", help="messages by status, duplicates, resends")
    status.add_argument("--tenant", help="one tenant's (its id); default: all")
    status.set_defaults(func=_status)
    replay = verbs.add_parser(
        "replay", help="send messages again, each as a first attempt under its own id"
    )
    replay.add_argument("--tenant", help="only this tenant's messages (its id)")
    replay.add_argument("--message", help="one message, by id")
    replay.add_argument("--destination", help="one endpoint's or subscription's messages")
    replay.add_argument("--since", type=datetime.fromisoformat, help="created at or after (ISO)")
    replay.add_argument("--dead", action="store_true", help="only the dead letters")
    replay.set_defaults(func=_replay)


def _notifier(args: argparse.Namespace) -> int:
    configure_logging("notifier", get_settings())
    tracing.configure_tracing("notifier", get_settings())
    # One line per request sent would be the log's whole content (and the delivery log has it).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = set(stages) - set(STAGES)
    if unknown:
        print(f"vq notifier: unknown stages {sorted(unknown)}; known: {', '.join(STAGES)}")
        return 2
    import uvloop

    settings = get_settings()
    metrics.serve(args.metrics_port or settings.metrics_port, settings.metrics_host, "notifier")
    # Full passes of the collector (CPython's default) came every 8 s at 800 messages a second,
    # 30-127 ms each with the loop stopped, and found almost nothing to free.
    collector.settle(FULL_GC_EVERY)
    # uvloop: the event loop is a good share of a notifier's CPU (sockets to Kafka, PostgreSQL,
    # receivers and the SMTP relay).
    from notifications.consuming import MissingTopics

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        try:
            runner.run(run_notifier(get_settings(), stages))
        except MissingTopics as missing:
            log.error("giving up: %s", missing)
            return 1
    return 0


def _status(args: argparse.Namespace) -> int:
    from eventstore.pool import open_pool
    from notifications.store.deliveries import tally

    async def main() -> None:
        pool = await open_pool(get_settings(), min_size=1, max_size=1, wait=True)
        try:
            counts = await tally(pool, args.tenant)
        finally:
            await pool.close()
        for name, value in asdict(counts).items():
            print(f"{name:11} {value}")

    asyncio.run(main())
    return 0


def _replay(args: argparse.Namespace) -> int:
    from eventstore.pool import open_pool
    from notifications.outlet import Outlet
    from notifications.replay import replay

    if not (args.message or args.destination or args.since or args.dead):
        print("vq notifications replay: say what: --message, --destination, --since or --dead")
        return 2
    settings = get_settings()

    async def main() -> int:
        pool = await open_pool(settings, min_size=1, max_size=1, wait=True)
        outlet = Outlet(settings, client_id=f"{settings.topic_prefix}-replay")
        try:
            return await replay(
                pool,
                outlet,
                args.tenant,
                message_id=args.message,
                destination=args.destination,
                since=args.since,
                dead_only=args.dead,
            )
        finally:
            await outlet.aclose()
            await pool.close()

    print(f"replayed {asyncio.run(main())} message(s)")
    return 0


def wall_clock() -> datetime:
    return datetime.now(UTC)


def senders(
    settings: Settings,
    pool: Any,
    outbound: Outbound,
    clock: Callable[[], datetime],
    alerts: Alerts | None = None,
) -> dict[str, Sender]:
    """Every channel's adapter, as the settings configure them."""
    from notifications.channels.chat import ChatSender
    from notifications.channels.email import EmailSender
    from notifications.channels.push import PushSender
    from notifications.channels.sms import TwilioSender
    from notifications.channels.webhook import WebhookSender

    return {
        "webhook": WebhookSender(
            settings,
            pool,
            outbound,
            clock,
            None if alerts is None else alerts.endpoint_disabled,
        ),
        "chat": ChatSender(pool, outbound),
        "email": EmailSender(settings),
        "sms": TwilioSender(settings, outbound, whatsapp=False),
        "whatsapp": TwilioSender(settings, outbound, whatsapp=True),
        "push": PushSender(settings, outbound),
    }


async def _ends_all(run: Awaitable[None], stop: asyncio.Event) -> None:
    """A stage that fails stops the others (they finish what they hold), not a process that
    runs on without it and closes the pool under them."""
    try:
        await run
    except BaseException:
        stop.set()
        raise


def _stopping(sig: signal.Signals, stop: asyncio.Event) -> None:
    log.info("%s: stopping", sig.name)
    stop.set()


def _topics_needed(settings: Settings, stages: Sequence[str]) -> list[str]:
    """What the stages read or write: every stage writes to the delivery topics (the retry and
    dead-letter ones included); the notifier reads the positions and the queue events."""
    read = [settings.positions_topic, settings.events_topic] if "notifier" in stages else []
    return [*read, *settings.delivery_topics]


async def run_notifier(
    settings: Settings,
    stages: Sequence[str] = STAGES,
    stop: asyncio.Event | None = None,
    clock: Callable[[], datetime] = wall_clock,
) -> None:
    """Run the stages until SIGINT, SIGTERM or `stop`."""
    # Imported here: `vq --help` and the other commands need none of it.
    import redis.asyncio as aioredis

    from eventstore.pool import open_pool
    from notifications.alerting import Alerts
    from notifications.conditions import Conditions
    from notifications.consuming import wait_for_topics
    from notifications.delivery import Deliverer
    from notifications.notifier import Notifier
    from notifications.outbound import Guard, Outbound
    from notifications.outlet import Outlet
    from notifications.queue_views import QueueViews
    from notifications.retrying import RetryRelay
    from notifications.scheduling import Schedules
    from notifications.wording import Wording
    from projections.layout import Keys

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _stopping, sig, stop)
    await wait_for_topics(settings, _topics_needed(settings, stages), stop)
    if stop.is_set():
        log.info("stopped before its stages started")
        return
    pool = await open_pool(settings, min_size=1, max_size=8)
    client = aioredis.Redis.from_url(settings.redis_dsn)
    outlet = Outlet(settings, client_id=f"{settings.topic_prefix}-notifier")
    outbound = Outbound(Guard.allowing(settings.outbound_networks))
    alerts = Alerts(pool, outlet, settings.public_url, clock)
    channel_senders = senders(settings, pool, outbound, clock, alerts)
    runs: list[Awaitable[None]] = []
    if "notifier" in stages:
        names = QueueViews(client, Keys(settings.redis_prefix))
        runs.append(Notifier(settings, pool, outlet, names).run(stop))
    if "deliver" in stages:
        wording = Wording(pool)
        runs.append(
            Deliverer(settings, pool, outlet, channel_senders, wording.render, clock).run(stop)
        )
    if "retry" in stages:
        runs.append(RetryRelay(settings, outlet, clock).run(stop))
    if "schedules" in stages:
        runs.append(Schedules(settings, pool, outlet, client, clock).run(stop))
    if "alerts" in stages:
        runs.append(Conditions(settings, pool, outlet, client, clock).run(stop))
    try:
        ended = await asyncio.gather(
            *(_ends_all(run, stop) for run in runs), return_exceptions=True
        )
        for outcome in ended:
            if isinstance(outcome, BaseException):
                raise outcome  # after every stage stopped: the process exits, and is restarted
    finally:
        for sender in channel_senders.values():
            await sender.aclose()
        await outbound.aclose()
        await outlet.aclose()
        await client.aclose()
        await pool.close()
