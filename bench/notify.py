"""Notifications: messages a minute from an event to a webhook receiver and an SMTP server.

`vq notifier` (every stage: notifier, deliver, retry, schedules), in 1 or 2 processes, on a fresh
schema and topic prefix, with a webhook receiver and an SMTP server on loopback, each a process of
its own (bench/receivers.py). The load is position records on the positions topic, as the stream
worker writes them, each making one webhook and one email (bench/notify_load.py), sent open loop.

1. sustained: the target rate (`notify_rate` messages/s, half webhooks, half emails) with
   nothing failing: messages/minute delivered, event->delivery latency, losses, CPU per part;
   when it is not sustained, the same again at 80 % of what it delivered (`reduced`), so that
   the latency of the pipeline is measured apart from that of its backlog;
2. failing: the webhook receiver answers 500 to 10 % of requests (at the rate of the step
   before); the failure rate the attempts show, whether every message still arrives (retries on
   a compressed schedule), and when.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import env, procs
from bench.aio import run
from bench.config import BenchConfig
from bench.notify_load import Receiver, Source, create_endpoint, encode, make_sources, produce
from bench.notify_stats import analyse, attempts
from bench.profile import Profiler
from core.settings import Settings

FAIL_SHARE = 0.10
# Retries as the Standard Webhooks schedule spaces them, compressed 25x (0.2 s ... 2.4 s): 8
# retries, so a message fails for good only if 9 attempts in a row fail (1e-9 at 10 %). The
# scale also shortens the webhook breaker's cooldown (30 s x scale, at least 1 s).
SCHEDULE, TIME_SCALE = "5,10,20,40,60,60,60,60", 0.04
WARMUP_RECORDS = 20
STALL_S = 20.0  # the wait for the last messages ends when none arrived for this long

Say = Callable[[str], None]


class NotificationsPhase:
    def __init__(
        self,
        config: BenchConfig,
        meter: procs.CpuMeter,
        logs: Path,
        profile_dir: Path | None,
        say: Say,
    ) -> None:
        self.config, self.meter, self.logs = config, meter, logs
        self.profile_dir, self.say = profile_dir, say

    def run(self, settings: Settings) -> dict[str, Any]:
        """`settings`: a fresh place (schema migrated, events and positions topics made)."""
        c = self.config
        webhook = Receiver("webhook", procs.free_port())
        smtp = Receiver("smtp", procs.free_port())
        notifiers: list[procs.Service] = []
        try:
            settings = settings.model_copy(
                update={
                    "outbound_allow": "127.0.0.0/8",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": smtp.port,
                    "delivery_schedule": SCHEDULE,
                    "delivery_time_scale": TIME_SCALE,
                    "webhook_timeout_s": 5.0,
                }
            )
            run(_delivery_topics(settings))
            tenant = run(env.create_tenant(settings))
            url = f"http://127.0.0.1:{webhook.port}/hooks/vq"
            endpoint = run(create_endpoint(settings, tenant.tenant_id, url))
            for index in range(c.notifiers):
                notifiers.append(
                    procs.start(
                        settings,
                        f"notifier{index}",
                        ["notifier", "--stages", "notifier,deliver,retry,schedules"],
                        self.logs / "notify",
                    )
                )
                self.meter.track("notifier", notifiers[-1].pid)
            self.meter.track("webhook_receiver", webhook.pid)
            self.meter.track("smtp_receiver", smtp.pid)
            source = _Sources(settings, tenant.tenant_id, endpoint)
            ready = self._warm_up(settings, source, webhook, smtp, len(notifiers))
            self.say(f"  notifier ready ({ready:.1f}s: groups joined, first messages through)")
            result = self._measure(settings, source, webhook, smtp, notifiers[0].pid)
            result["memory"] = _memory([procs.peak_rss_mb(n.pid) for n in notifiers])
            return result
        finally:
            for part in ("notifier", "webhook_receiver", "smtp_receiver"):
                self.meter.untrack(part)
            for service in notifiers:
                service.stop()
            webhook.stop()
            smtp.stop()

    def _measure(
        self,
        settings: Settings,
        source: _Sources,
        webhook: Receiver,
        smtp: Receiver,
        profile_pid: int,
    ) -> dict[str, Any]:
        c = self.config
        step = functools.partial(self._step, settings, source, webhook, smtp)
        rate = c.notify_rate / 2  # records/s: each makes two messages
        sustained = step(rate, c.notify_s, "nothing failing", profile_pid)
        result: dict[str, Any] = {
            "notifiers": c.notifiers,
            "target_per_min": round(c.notify_rate * 60),
            "sustained": sustained,
        }
        held = sustained["delivered_per_min"] >= 0.95 * sustained["offered_per_min"]
        note = None
        if not held:
            # Measured where it holds, so the latency is the pipeline's, not its backlog's.
            rate = max(10.0, round(sustained["delivered_per_min"] / 120 * 0.8))
            note = f"the target rate was not sustained: at {rate * 2:.0f} messages/s (80 %)"
            result["reduced"] = step(rate, c.notify_fail_s, "nothing failing, reduced", None)
            result["reduced"]["note"] = note
        webhook.ask(f"fail {FAIL_SHARE}")
        failing = step(rate, c.notify_fail_s, f"webhooks failing {FAIL_SHARE:.0%}", None)
        ids = [s.webhook_id for s in source.last] + [s.email_id for s in source.last]
        failing.update(db=attempts(settings, ids), fail_share=FAIL_SHARE, note=note)
        result["failing"] = failing
        return result

    def _warm_up(
        self, settings: Settings, source: _Sources, webhook: Receiver, smtp: Receiver, members: int
    ) -> float:
        started = time.monotonic()
        run(_groups_stable(settings, members, timeout_s=90))
        sources = source.make(WARMUP_RECORDS)
        run(produce(settings, encode(source.tenant_id, sources, 20.0), 20.0))
        _wait_all(webhook, smtp, len(sources), 60)
        webhook.ask("dump")
        smtp.ask("dump")
        return time.monotonic() - started

    def _step(
        self,
        settings: Settings,
        source: _Sources,
        webhook: Receiver,
        smtp: Receiver,
        rate: float,
        seconds: float,
        label: str,
        profile_pid: int | None,
    ) -> dict[str, Any]:
        sources = source.make(round(rate * seconds))
        self.say(
            f"  {label}: {len(sources):,} position records at {rate:.0f}/s "
            f"({rate * 2:.0f} messages/s) for {seconds:.0f}s"
        )
        encoded = encode(source.tenant_id, sources, rate)
        profiler = None
        if profile_pid is not None and self.profile_dir is not None:
            profiler = Profiler(profile_pid, seconds, self.profile_dir / "notifier.raw")
        before = self.meter.snapshot()
        produced = run(produce(settings, encoded, rate))
        during = self.meter.snapshot()
        waited = _wait_all(webhook, smtp, len(sources), STALL_S)
        after = self.meter.snapshot()
        result = analyse(
            sources, produced, rate, webhook.ask("dump")["seen"], smtp.ask("dump")["seen"]
        )
        cores = procs.cores_used(before, during)
        result.update(rate_records_per_s=rate, seconds=seconds, cores=cores, waited_s=waited)
        # Over the step and the drain after it: every message's whole cost, backlog included.
        whole = procs.cores_used(before, after)
        result["cpu_ms_per_message"] = {
            part: round(used * (after.at - before.at) * 1000 / max(len(sources) * 2, 1), 3)
            for part, used in whole.items()
        }
        if profiler is not None:
            result["profile"] = profiler.result()
        lat = result["latency"]
        self.say(
            f"  delivered {result['delivered_per_min']:,}/min, {result['lost']} lost, latency "
            f"P50 {lat['p50']} / P99 {lat['p99']} ms; cores {cores}"
        )
        return result


class _Sources:
    """Followed tickets made as the steps need them, each with versions of its own."""

    def __init__(self, settings: Settings, tenant_id: str, endpoint_id: str) -> None:
        self.settings, self.tenant_id, self.endpoint_id = settings, tenant_id, endpoint_id
        self.next_version = 1
        self.last: list[Source] = []

    def make(self, count: int) -> list[Source]:
        first = self.next_version
        self.next_version += count
        self.last = make_sources(self.settings, self.tenant_id, self.endpoint_id, count, 50, first)
        return self.last


def _memory(peaks: list[dict[str, float]]) -> dict[str, float]:
    found = [p for p in peaks if p]
    if not found:
        return {}
    return {
        "max_mb": max(p["max_mb"] for p in found),
        "total_mb": round(sum(p["total_mb"] for p in found), 1),
        "processes": sum(p["processes"] for p in found),
    }


def _wait_all(webhook: Receiver, smtp: Receiver, count: int, stall_s: float) -> float:
    """Until both receivers have `count` distinct messages, or nothing more came for `stall_s`."""
    started = last_change = time.monotonic()
    seen = -1
    while time.monotonic() - last_change < stall_s:
        hooks, mails = webhook.ask("count")["ok"], smtp.ask("count")["ok"]
        if hooks >= count and mails >= count:
            break
        if hooks + mails != seen:
            seen, last_change = hooks + mails, time.monotonic()
        time.sleep(0.2)
    return round(time.monotonic() - started, 1)


async def _delivery_topics(settings: Settings) -> None:
    from deploy.topics import aensure_topics

    await aensure_topics(settings, settings.delivery_topics, settings.kafka_partitions)


async def _groups_stable(settings: Settings, members: int, timeout_s: float) -> None:
    """Wait until the stages' consumer groups each have every notifier process, and are stable
    (a rebalance in the middle of a step would be measured as latency)."""
    from aiokafka.admin import AIOKafkaAdminClient

    prefix = settings.topic_prefix
    groups = [f"{prefix}-notifier", f"{prefix}-deliver-webhook", f"{prefix}-deliver-email"]
    groups.append(f"{prefix}-deliver-retry")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    await admin.start()
    deadline = time.monotonic() + timeout_s
    states: list[tuple[str, int]] = []
    try:
        while time.monotonic() < deadline:
            states = []
            for group in groups:  # one a request: aiokafka 0.14 misreads Kafka 4's answer for more
                described = await admin.describe_consumer_groups([group])
                states += [(g[2], len(g[5])) for response in described for g in response.groups]
            if len(states) == len(groups) and all(
                state == "Stable" and count == members for state, count in states
            ):
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"the notifier's consumer groups did not settle: {states}")
    finally:
        await admin.close()
