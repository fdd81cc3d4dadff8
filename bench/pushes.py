"""Push cost: what one `vq api` process spends to deliver a change to one live follower.

The followers phase (bench/followers.py) measures pushes while commands flow, so the API's CPU
there mixes both. Here nothing but pushes runs: `vq api` on a fresh place, a tenant, viewer keys
and QUEUES queues whose read models the relay and worker make (both stopped once caught up).
Then per N (`BENCH_PUSHES`) N followers (bench/follow_client.py; `BENCH_PUSH_MIX=sse`, `ws` or
`ticket`: every one a queue's SSE stream, its WebSocket, or a ticket's SSE stream, half of these
by the ticket's token; `mixed`: the followers phase's mix of 8 SSE queue streams, 1 WebSocket
and 1 ticket stream in 10), and the bench itself PUBLISHES batch messages on the queues' change
channels (layout.Keys.changes; the shape of projector.QueueUpdate.message()) at `BENCH_PUSH_RATE`
messages/s, round robin over the queues, each queue's versions one after the other. No command,
relay or worker runs meanwhile. Each message's one change moves every followed ticket one place
(a ticket joins at the head, then leaves it), so ticket streams push on every message too.

Per N: pushes delivered (and expected), the API's CPU per push (its /proc CPU over the window /
the pushes that arrived in it; and net of its CPU with the same followers connected and nothing
published), push latency (published -> received) P50/P99/max, and a py-spy profile of the API.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis

from bench import env, follow_stats, http_sweep, procs, propagation
from bench.aio import run
from bench.config import BenchConfig
from bench.follow_client import raise_nofile
from bench.follow_procs import CLIENTS, CONNECT_RATE, Clients, status_mb
from bench.followers import PER_KEY, Say, _enqueue, _viewer_keys, plan, ticket_blocks
from bench.profile import Profiler
from core.settings import Settings
from projections.estimates import NEWCOMER
from projections.layout import Keys

_TICK = os.sysconf("SC_CLK_TCK")
QUEUES = 100
IDLE_S = 8.0  # the API's CPU with the followers connected, nothing published
DRAIN_S = 2.0  # after the last message, before the window closes
WAITING = 3  # tickets waiting in each queue (its view is a real one's size)


class Queue:
    """One queue's read model as the bench publishes it: its stored view and its versions."""

    def __init__(self, queue_id: str, version: int, view: dict[str, Any], newcomer: Any) -> None:
        self.queue_id = queue_id
        self.version = version
        self.view = view
        self.newcomer = newcomer
        self.ghost = str(uuid.uuid4())  # the ticket that joins and leaves its line's head

    def message(self, at: str) -> bytes:
        """The next batch message: one change, a ghost joining the head, then leaving it."""
        self.version += 1
        joins = self.version % 2 == 1
        change: dict[str, Any] = {
            "version": self.version,
            "type": "TicketEnqueued" if joins else "TicketCancelled",
            "at": at,
            "ticket_id": self.ghost,
            "number": "Z1",
            "status": "waiting" if joins else "cancelled",
            "counter": None,
            "was": None if joins else "waiting",
            "was_counter": None,
            "left": None if joins else 1,
            "joined": 1 if joins else None,
            "shifted": [],
        }
        message = {
            "queue_id": self.queue_id,
            "version": self.version,
            "view": self.view,
            "changes": [change],
            "etas": {},
            "newcomer": self.newcomer,
        }
        return json.dumps(message).encode()


def _read_queues(settings: Settings, tenant_id: str, ids: list[str]) -> list[Queue]:
    keys = Keys(settings.redis_prefix)
    client = redis.Redis.from_url(settings.redis_dsn)
    try:
        found = []
        for queue_id in ids:
            version, view = client.hmget(keys.queue(tenant_id, queue_id), "version", "view")
            newcomer = client.hget(keys.eta(tenant_id, queue_id), NEWCOMER)
            assert version is not None and view is not None, f"queue {queue_id} has no view"
            found.append(
                Queue(
                    queue_id,
                    int(version),
                    json.loads(view),
                    json.loads(newcomer) if newcomer is not None else None,
                )
            )
        return found
    finally:
        client.close()


def _settle_versions(settings: Settings, tenant_id: str, queues: list[Queue]) -> None:
    """The read models' versions = the last ones published (an even count per queue leaves
    every ticket where it was): the next step's followers start where the channel is."""
    keys = Keys(settings.redis_prefix)
    client = redis.Redis.from_url(settings.redis_dsn)
    try:
        for queue in queues:
            client.hset(keys.queue(tenant_id, queue.queue_id), "version", queue.version)
    finally:
        client.close()


async def _publish(
    settings: Settings, tenant_id: str, queues: list[Queue], rate: float, rounds: int
) -> list[tuple[str, int, float]]:
    """`rounds` messages per queue at `rate` a second, open loop; (queue, version, when)."""
    keys = Keys(settings.redis_prefix)
    channels = [keys.changes(tenant_id, q.queue_id) for q in queues]
    client = aioredis.Redis.from_url(settings.redis_dsn)
    sent: list[tuple[str, int, float]] = []
    start = time.monotonic()
    try:
        for index in range(rounds * len(queues)):
            queue = queues[index % len(queues)]
            delay = start + index / rate - time.monotonic()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            data = queue.message(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            at = time.monotonic()
            await client.publish(channels[index % len(queues)], data)
            sent.append((queue.queue_id, queue.version, at))
    finally:
        await client.aclose()
    return sent


def _user_sys(pid: int) -> tuple[float, float]:
    """A process's CPU seconds in user space and in the kernel (its writes, its epoll)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK


def _plan(
    mix: str,
    count: int,
    queues: list[str],
    tickets: dict[str, list[tuple[str, str]]],
    keys: list[str],
) -> list[list[str]]:
    """The followers (follow_client's specs): all of one kind (`sse`, `ws`, `ticket`: half of
    the tickets by their token), or the followers phase's mix (`mixed`)."""
    if mix == "mixed":
        return plan(count, queues, tickets, keys)
    specs = []
    for index in range(count):
        block, place = divmod(index, len(queues))
        queue = queues[place]
        header, value = "Authorization", f"Bearer {keys[index // PER_KEY]}"
        target = ""
        if mix == "ticket":
            target, token = tickets[queue][block]
            if index % 2 == 0:
                header, value = "X-Ticket-Token", token
        specs.append([mix, queue, target, header, value])
    return specs


def _tickets_per_queue(mix: str, most: int) -> int:
    """Tickets to enqueue in each queue: those its ticket streams follow, WAITING at least."""
    wanted = {"ticket": -(-most // QUEUES), "mixed": ticket_blocks(most)}.get(mix, 0)
    return max(WAITING, wanted)


class PushesPhase:
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
        nofile = raise_nofile()
        c = self.config
        tenant = run(env.create_tenant(settings))
        most = max(c.pushes)
        keys = run(_viewer_keys(settings, tenant.tenant_id, -(-most // PER_KEY)))
        logs = self.logs / "pushes"
        api = procs.start_api(settings, logs, 1)
        self.meter.track("api", api.pid)
        try:
            tickets, queues = self._setup(settings, api, tenant, most)
            steps = []
            for count in c.pushes:
                procs.wait_idle(api.pid, timeout_s=60)
                ids = [q.queue_id for q in queues]
                specs = _plan(c.push_mix, count, ids, tickets, keys)
                steps.append(self._step(settings, api, tenant.tenant_id, queues, specs))
                _settle_versions(settings, tenant.tenant_id, queues)
            return {
                "queues": QUEUES,
                "rate": c.push_rate,
                "seconds": c.push_s,
                "mix": c.push_mix,
                "clients": CLIENTS,
                "connect_rate": CONNECT_RATE,
                "nofile": nofile,
                "steps": steps,
                "memory": procs.peak_rss_mb(api.pid),
            }
        finally:
            self.meter.untrack("api")
            api.stop()

    def _setup(
        self, settings: Settings, api: procs.Service, tenant: env.Tenant, most: int
    ) -> tuple[dict[str, list[tuple[str, str]]], list[Queue]]:
        """The queues and their tickets, made through the API, projected by the relay and
        worker, which stop once the read models are caught up."""
        assert api.url is not None
        logs = self.logs / "pushes"
        relay = procs.start(settings, "relay", ["relay"], logs)
        worker = procs.start(settings, "worker", ["worker", "--loglevel", "warning"], logs)
        try:
            ids = http_sweep.create_queues(api.url, tenant, QUEUES)
            per_queue = _tickets_per_queue(self.config.push_mix, most)
            tickets = run(_enqueue(api.url, tenant.kiosk, ids, per_queue))
            propagation.wait_caught_up(settings, tenant, ids)
        finally:
            relay.stop()
            worker.stop()
        return tickets, _read_queues(settings, tenant.tenant_id, ids)

    def _step(
        self,
        settings: Settings,
        api: procs.Service,
        tenant_id: str,
        queues: list[Queue],
        specs: list[list[str]],
    ) -> dict[str, Any]:
        assert api.url is not None
        c = self.config
        count = len(specs)
        rounds = max(2, round(c.push_rate * c.push_s / len(queues) / 2) * 2)  # even: see above
        self.say(f"  {count:,} followers ({c.push_mix}): connecting at {CONNECT_RATE:.0f}/s")
        with tempfile.TemporaryDirectory() as folder:
            clients = Clients(api.url, specs, Path(folder), self.meter)
            try:
                summaries = clients.connected()
                rss = status_mb(api.pid, "VmRSS")
                idle = self.meter.snapshot()
                time.sleep(IDLE_S)
                before, user_sys = self.meter.snapshot(), _user_sys(api.pid)
                idle_cores = _api_cores(idle, before)
                self.say(
                    f"  {sum(s['live'] for s in summaries):,} live; publishing "
                    f"{c.push_rate:.0f} messages/s for {rounds * len(queues) / c.push_rate:.0f}s"
                )
                profiler = self._profiler(api.pid, rounds * len(queues) / c.push_rate, count)
                sent = run(_publish(settings, tenant_id, queues, c.push_rate, rounds))
                time.sleep(DRAIN_S)
                after, (user, kernel) = self.meter.snapshot(), _user_sys(api.pid)
                profile = profiler.result() if profiler is not None else None
                rows, client_cpu = clients.stop()
            finally:
                clients.kill()
        step = _analyse(rows, sent, before, after, idle_cores)
        spent = max(user + kernel - sum(user_sys), 1e-9)
        step["api"]["kernel_share"] = round((kernel - user_sys[1]) / spent, 2)
        step.update(
            followers=count,
            connect=follow_stats.connects(rows),
            clients=summaries,
            follower_cpu_s=round(client_cpu, 1),
            rss_mb=rss,
            loadavg=round(env.loadavg(), 2),
            profile=profile,
        )
        api_step = step["api"]
        self.say(
            f"  {step['pushes']:,} pushes ({step['pushes_per_s']:,}/s, {step['push']['unseen']} "
            f"unseen): API {api_step['cpu_us_per_push']} us CPU/push "
            f"({api_step['net_us_per_push']} net of idle, {api_step['kernel_share']:.0%} in the "
            f"kernel), {api_step['cores']} cores; push P50 "
            f"{step['push']['p50']} P99 {step['push']['p99']} ms; load {step['loadavg']}"
        )
        return step

    def _profiler(self, pid: int, seconds: float, count: int) -> Profiler | None:
        if self.profile_dir is None:
            return None
        return Profiler(pid, seconds, self.profile_dir / f"api-pushes-{count}.raw")


def _api_cores(before: procs.CpuSnapshot, after: procs.CpuSnapshot) -> float:
    spent = after.by_part.get("api", 0.0) - before.by_part.get("api", 0.0)
    return round(spent / max(after.at - before.at, 1e-9), 4)


def _analyse(
    rows: list[list[Any]],
    sent: list[tuple[str, int, float]],
    before: procs.CpuSnapshot,
    after: procs.CpuSnapshot,
    idle_cores: float,
) -> dict[str, Any]:
    start, end = before.at, after.at
    pushes = follow_stats.arrivals(rows, start, end)
    seconds = end - start
    cpu_s = after.by_part.get("api", 0.0) - before.by_part.get("api", 0.0)
    net_s = max(0.0, cpu_s - idle_cores * seconds)
    pushed = follow_stats.push(sent, rows)
    followers_of: dict[str, int] = {}
    for row in rows:
        if row[5] is not None and row[5] > 0:
            followers_of[row[1]] = followers_of.get(row[1], 0) + 1
    return {
        "messages": len(sent),
        "expected": sum(followers_of.get(queue, 0) for queue, _, _ in sent),
        "pushes": pushes,
        "pushes_per_s": round(pushes / max(seconds, 1e-9)),
        "push": pushed["all"],
        "push_by_kind": pushed["by_kind"],
        "ended_early": follow_stats.ended_early(rows),
        "api": {
            "cpu_s": round(cpu_s, 2),
            "cores": round(cpu_s / max(seconds, 1e-9), 2),
            "idle_cores": idle_cores,
            "cpu_us_per_push": round(1e6 * cpu_s / pushes, 1) if pushes else None,
            "net_us_per_push": round(1e6 * net_s / pushes, 1) if pushes else None,
        },
        "cores": procs.cores_used(before, after),
    }


def section(out: dict[str, Any]) -> list[str]:
    """The phase in the table (bench/report.py)."""
    found = out.get("pushes")
    if not found or not found.get("steps"):
        return []
    lines = [
        "",
        f"10. push cost: one `vq api` process, N followers ({found['mix']}) over "
        f"{found['queues']} queues; the bench publishes {found['rate']:.0f} batch messages/s on "
        f"their change channels for {found['seconds']:.0f} s, nothing else runs. CPU/push = the "
        "API's CPU over the window / pushes received (net: less its CPU with the same followers "
        "idle); latency = published -> received",
        f"   {'followers':>9} {'live':>7} {'pushes/s':>8} {'unseen':>7} {'us/push':>8} "
        f"{'net':>6} {'cores':>5} {'idle':>5} {'P50 ms':>7} {'P99':>7} {'max':>7} {'RSS MB':>7} "
        f"{'load':>5}",
    ]
    for step in found["steps"]:
        api, push = step["api"], step["push"]
        lines.append(
            f"   {step['followers']:>9,} {step['connect']['live']:>7,} "
            f"{step['pushes_per_s']:>8,} {push['unseen']:>7,} "
            f"{api['cpu_us_per_push'] or '-':>8} {api['net_us_per_push'] or '-':>6} "
            f"{api['cores']:>5.2f} {api['idle_cores']:>5.3f} {push['p50'] or '-':>7} "
            f"{push['p99'] or '-':>7} {push['max'] or '-':>7} {step['rss_mb'] or '-':>7} "
            f"{step['loadavg']:>5}"
        )
    return lines
