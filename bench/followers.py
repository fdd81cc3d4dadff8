"""Live followers: N concurrent followers of 100 queues on one API process, commands flowing.

`vq api` (one process: the followers'), `vq relay` and `vq worker` on a fresh place, and a second
`vq api` process that answers the commands (so that the figures say what one process spends on
its followers, not what the commands cost it: behind a load balancer, commands land on any replica). For each N (`followers` in
the config): 100 fresh queues of one tenant; N followers opened at CONNECT_RATE/s by
CLIENTS follower processes (bench/follow_client.py), in blocks of 100 (one per queue, one API
key per block): 8 blocks in 10 follow the queue's SSE stream, 1 its WebSocket, 1 a ticket's SSE
stream (a ticket enqueued for it, half by its token, half by the key). Once all are live:
COMMAND_RATE commands/s, open loop, the realistic mix (bench/loadgen.py) for `follow_s` seconds
after WARMUP_S of warm-up; then every follower closes and the API settles before the next N.

Per N: push latency (the command's answer -> the follower received that queue version), the
versions expected but never seen, the API's RSS and CPU, Redis's connections (all of them, and
the API's own by their CLIENT LIST name), how long connecting took and what was refused.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench import env, follow_stats, http_sweep, procs, propagation
from bench.aio import run
from bench.config import BenchConfig
from bench.follow_client import raise_nofile
from bench.follow_procs import (
    CLIENTS,
    CONNECT_RATE,
    Clients,
    RssSampler,
    redis_connections,
    status_mb,
)
from bench.profile import Profiler
from bench.stats import summary_ms
from core.settings import Settings

QUEUES = 100
PER_KEY = 100  # followers per API key: one block (one follower per queue)
COMMAND_RATE = 200.0
WARMUP_S = 3.0
DRAIN_S = 5.0  # after the last answer, before the followers close
PROFILE_S = 10.0  # the API's profile, after the measured window (commands still flowing)
ENQUEUE_CONCURRENCY = 16
# The API's own Redis connections whatever N is: its query pool (vq/api.py READ_CONNECTIONS, 64)
# and the hub's subscription (as tests/integration/test_fanout.py bounds them).
API_CONNECTION_BOUND = 64 + 1

Say = Callable[[str], None]


def block_kind(block: int) -> str:
    """Of every 10 blocks of 100 followers: 1 WebSocket, 1 ticket stream, 8 queue streams."""
    return {0: "ws", 5: "ticket"}.get(block % 10, "sse")


def ticket_blocks(count: int) -> int:
    blocks = -(-count // PER_KEY)
    return sum(1 for b in range(blocks) if block_kind(b) == "ticket")


def plan(
    count: int,
    queues: list[str],
    tickets: dict[str, list[tuple[str, str]]],
    keys: list[str],
) -> list[list[str]]:
    """The followers: [kind, queue, target (the ticket for a ticket stream), header, value]."""
    specs = []
    ticket_block = Counter[str]()
    for index in range(count):
        block, queue = divmod(index, PER_KEY)
        kind, queue_id = block_kind(block), queues[queue % len(queues)]
        auth = ("Authorization", f"Bearer {keys[block % len(keys)]}")
        target = ""
        if kind == "ticket":
            ticket_id, token = tickets[queue_id][ticket_block[queue_id]]
            ticket_block[queue_id] += 1
            target = ticket_id
            if index % 2 == 0:  # the ticket page's way: the token from its QR code
                auth = ("X-Ticket-Token", token)
        specs.append([kind, queue_id, target, *auth])
    return specs


async def _viewer_keys(settings: Settings, tenant_id: str, count: int) -> list[str]:
    from access.directory import TenantDirectory
    from eventstore.pool import open_pool
    from eventstore.postgres import PostgresEventStore

    pool = await open_pool(settings, min_size=1, max_size=2, wait=True)
    try:
        directory = TenantDirectory(PostgresEventStore(pool))
        return [
            (await directory.create_key(tenant_id, f"bench follower {i}", "viewer")).secret
            for i in range(count)
        ]
    finally:
        await pool.close()


async def _enqueue(
    url: str, kiosk_key: str, queues: list[str], per_queue: int
) -> dict[str, list[tuple[str, str]]]:
    """`per_queue` waiting tickets in every queue: (ticket id, its token)."""
    made: dict[str, list[tuple[str, str]]] = {q: [] for q in queues}
    gate = asyncio.Semaphore(ENQUEUE_CONCURRENCY)
    headers = {"Authorization": f"Bearer {kiosk_key}"}
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client:

        async def one(queue_id: str) -> None:
            async with gate:
                answer = await client.post(
                    f"/v1/queues/{queue_id}/tickets", json={"channel": "kiosk"}
                )
            answer.raise_for_status()
            ticket = answer.json()["ticket"]
            made[queue_id].append((ticket["ticket_id"], ticket["token"]))

        for _ in range(per_queue):
            await asyncio.gather(*(one(q) for q in queues))
    return made


class FollowersPhase:
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
        # > 10,000 sockets: `vq api` does not raise its own limit; it inherits this one.
        nofile = raise_nofile()
        tenant = run(env.create_tenant(settings))
        most = max(self.config.followers)
        keys = run(_viewer_keys(settings, tenant.tenant_id, -(-most // PER_KEY)))
        logs = self.logs / "followers"
        # The API's own live limits (per key 500, per ticket 10, per process 20,000) hold: a key
        # here opens 100 streams, a ticket 1.
        api = procs.start_api(settings, logs, 1)
        commands = procs.start_api(settings, logs, 1, name="api-commands")
        relay = procs.start(settings, "relay", ["relay"], logs)
        services = {"api": api, "api-commands": commands, "relay": relay}
        for index in range(self.config.stream_workers):  # one consumer group
            name = "worker" if index == 0 else f"worker-{index + 1}"
            services[name] = procs.start(settings, name, ["worker", "--loglevel", "warning"], logs)
        for part, service in services.items():
            self.meter.track(part, service.pid)
        try:
            steps = []
            for count in self.config.followers:
                procs.wait_idle(api.pid, timeout_s=60)  # the step before has settled
                steps.append(self._step(settings, api, commands, tenant, keys, count))
            return {
                "queues": QUEUES,
                "rate": COMMAND_RATE,
                "seconds": self.config.follow_s,
                "warmup_s": WARMUP_S,
                "clients": CLIENTS,
                "connect_rate": CONNECT_RATE,
                "per_key": PER_KEY,
                "nofile": nofile,
                "api_connection_bound": API_CONNECTION_BOUND,
                "steps": steps,
                "memory": procs.peak_rss_mb(api.pid),
            }
        finally:
            for part, service in services.items():
                self.meter.untrack(part)
                service.stop()

    def _step(
        self,
        settings: Settings,
        api: procs.Service,
        commands: procs.Service,
        tenant: env.Tenant,
        keys: list[str],
        count: int,
    ) -> dict[str, Any]:
        assert api.url is not None and commands.url is not None
        queues = http_sweep.create_queues(api.url, tenant, QUEUES)
        tickets = run(_enqueue(api.url, tenant.kiosk, queues, ticket_blocks(count)))
        propagation.wait_caught_up(settings, tenant, queues)
        specs = plan(count, queues, tickets, keys)
        self.say(f"  {count:,} followers: connecting at {CONNECT_RATE:.0f}/s")
        with tempfile.TemporaryDirectory() as folder:
            clients = Clients(api.url, specs, Path(folder), self.meter)
            try:
                summaries = clients.connected()
                connected = {
                    "rss_mb": status_mb(api.pid, "VmRSS"),
                    "redis": redis_connections(settings, api.pid),
                    "clients": summaries,
                }
                live = sum(s["live"] for s in summaries)
                self.say(
                    f"  {live:,} of {count:,} live; commands at {COMMAND_RATE:.0f}/s for "
                    f"{self.config.follow_s:.0f}s"
                )
                measured = self._commands(settings, api, commands.url, queues, tenant, count)
                rows, client_cpu = clients.stop()
            finally:
                clients.kill()
        step = _analyse(count, queues, rows, measured, connected)
        step["follower_cpu_s"] = round(client_cpu, 1)
        push = step["push"]
        self.say(
            f"  push P50 {push['p50']} P99 {push['p99']} max {push['max']} ms, "
            f"{push['unseen']} unseen; API RSS {step['api']['rss_max_mb']} MB, "
            f"{step['cores'].get('api')} cores; Redis: API {step['redis']['api']}"
        )
        return step

    def _commands(
        self,
        settings: Settings,
        api: procs.Service,
        commands_url: str,
        queues: list[str],
        tenant: env.Tenant,
        count: int,
    ) -> dict[str, Any]:
        """The commands at COMMAND_RATE (to the commands' API process) while everyone follows
        the other, and what the followers' API spent. With profiles on, the commands go on for
        PROFILE_S after the measured window while py-spy samples the API (sampling costs CPU
        on a full box: it would weigh on the figures it explains)."""
        measured_s = self.config.follow_s
        extra = PROFILE_S + 2.0 if self.profile_dir is not None else 0.0
        marks: dict[str, Any] = {}
        timer = None
        if self.profile_dir is not None:
            out = self.profile_dir / f"api-followers-{count}.raw"

            def profile() -> None:  # once the measured window is over (the generator starts
                marks["after"] = self.meter.snapshot()  # within a second of its launch)
                marks["profiler"] = Profiler(api.pid, PROFILE_S, out)

            timer = threading.Timer(WARMUP_S + measured_s + 1.5, profile)
        sampler = RssSampler(api.pid)
        with tempfile.TemporaryDirectory() as folder:
            # When each version was published: the push's delay split where the fan-out starts.
            watch = propagation.Observer(
                settings, tenant, WARMUP_S + measured_s + extra + DRAIN_S + 2, Path(folder)
            )
            self.meter.track("observer", watch.proc.pid)
            before = self.meter.snapshot()
            if timer is not None:
                timer.start()
            try:
                whole = http_sweep.run_generator(
                    commands_url,
                    tenant,
                    queues,
                    COMMAND_RATE,
                    measured_s + extra,
                    WARMUP_S,
                    self.meter,
                    18,
                )
            finally:
                if timer is not None:
                    timer.cancel()  # a generator that failed early: no profile to start
            after = marks.get("after") or self.meter.snapshot()
            result = _window(whole, measured_s)
            cores = http_sweep.with_generator(procs.cores_used(before, after), result, before)
            redis = redis_connections(settings, api.pid)  # every follower still connected
            time.sleep(DRAIN_S)
            published = watch.published(propagation.answered(queues, result))
            self.meter.untrack("observer")
        profiler = marks.get("profiler")
        return {
            "published": published,
            "generator": result,
            "cores": cores,
            "redis": redis,
            "rss_max_mb": sampler.stop(),
            "hwm_mb": status_mb(api.pid, "VmHWM"),
            "profile": profiler.result() if profiler is not None else None,
        }


def _window(result: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The generator's result cut to its first `seconds` after the warm-up (the measured
    window), its own CPU in proportion."""
    end = result["start"] + result["warmup_s"] + seconds
    share = (result["warmup_s"] + seconds) / (result["warmup_s"] + result["duration_s"])
    return {
        **result,
        "duration_s": seconds,
        "samples": [row for row in result["samples"] if row[0] < end],
        "cpu_s": result["cpu_s"] * share,
    }


def _analyse(
    count: int,
    queues: list[str],
    rows: list[list[Any]],
    measured: dict[str, Any],
    connected: dict[str, Any],
) -> dict[str, Any]:
    result = measured["generator"]
    window = result["start"] + result["warmup_s"]
    commands = propagation.answered(queues, result)
    pushed = follow_stats.push(commands, rows)
    # answer -> published (relay and worker); the rest of a push's delay is the fan-out's
    published, unpublished = propagation.delays(commands, measured["published"])
    pushes = follow_stats.arrivals(rows, window, window + result["duration_s"])
    pushes_per_s = pushes / result["duration_s"]
    cores = measured["cores"]
    redis = measured["redis"]
    return {
        "followers": count,
        "kinds": dict(Counter(row[0] for row in rows)),
        "keys": -(-count // PER_KEY),
        "connect": {**follow_stats.connects(rows), "clients": connected["clients"]},
        "commands": http_sweep.analyse(result),
        "push": pushed["all"],
        "published": {**summary_ms(published), "not_seen": unpublished},
        "push_by_kind": pushed["by_kind"],
        "pushes_per_s": round(pushes_per_s),
        "ended_early": follow_stats.ended_early(rows),
        "api": {
            "rss_connected_mb": connected["rss_mb"],
            "rss_max_mb": measured["rss_max_mb"],
            "hwm_mb": measured["hwm_mb"],
            "cores": cores.get("api", 0.0),
            "cpu_us_per_push": (
                round(1e6 * cores.get("api", 0.0) / pushes_per_s) if pushes_per_s else None
            ),
        },
        "redis": {
            **redis,
            "connected_clients_at_connect": connected["redis"]["connected_clients"],
            "api_at_connect": connected["redis"]["api"],
        },
        "cores": cores,
        "profile": measured["profile"],
    }
