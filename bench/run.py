"""`python -m bench`: every measurement in one run, then the table, the JSON and the chart.

Fresh places on the local stack (schema, topics, Redis prefix), each dropped at the end: `store`
(ceilings and the in-process append), `cmd` (the HTTP sweep: the write side alone), `prop` (API
+ relay + worker: the whole path to the read side), `data` (a million events: rebuild, reads),
`notif` (the notifier with a webhook receiver and an SMTP server: bench/notify.py), `follow`
(thousands of live followers of one API process: bench/followers.py), `soak` (the whole product
for an hour at a steady rate: bench/soak.py, only with BENCH_SOAK or BENCH_ONLY=soak).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    ceilings,
    env,
    fill,
    followers,
    http_sweep,
    notify,
    procs,
    propagation,
    pushes,
    reads,
    report,
    soak,
    wrk,
)
from bench.aio import run
from bench.append import event_store_append
from bench.config import BenchConfig, from_env
from bench.library_append import eventsourcing_append
from bench.profile import Profiler, py_spy
from core.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {env.loadavg():.2f}] {text}", flush=True)


class Bench:
    def __init__(self, config: BenchConfig, stamp: str) -> None:
        self.config = config
        self.stamp = stamp
        self.logs = RESULTS / f"{stamp}-logs"
        self.meter = procs.CpuMeter()
        self.places: list[Settings] = []
        self.out: dict[str, Any] = {
            "started": stamp,
            "quick": config.quick,
            "machine": env.machine(),
            "config": config.__dict__,
            "loadavg": {},
            "memory": {},
        }
        self.profile_dir = RESULTS / f"{stamp}-profiles" if config.profile and py_spy() else None
        if self.profile_dir is not None:
            self.profile_dir.mkdir(parents=True, exist_ok=True)

    def place(self, label: str) -> Settings:
        settings = env.fresh_settings(label)
        self.places.append(settings)  # dropped at the end even if making it fails halfway
        env.prepare(settings)
        run(env.create_topics(settings))
        return settings

    def mark(self, phase: str) -> None:
        self.out["loadavg"][phase] = round(env.loadavg(), 2)

    # -- phases ----------------------------------------------------------------------------------

    def ceilings_and_append(self, settings: Settings, tenant: env.Tenant) -> None:
        c = self.config
        if "ceilings" in c.phases:
            say("ceilings: PostgreSQL, Kafka, Redis")
            self.mark("ceilings")
            self.out["ceilings"] = {
                "postgres_psycopg": run(
                    ceilings.postgres_insert(settings, c.ceiling_s, c.connections)
                ),
                "postgres_pgbench": ceilings.pgbench_insert(settings, c.ceiling_s, c.connections),
                "kafka": run(ceilings.kafka_produce(settings, settings.events_topic, c.ceiling_s)),
                "redis": run(ceilings.redis_zset(settings, c.ceiling_s, c.connections)),
            }
        if "append" in c.phases:
            say("event store append, in process")
            self.mark("append")
            self.out["append"] = [
                run(
                    event_store_append(
                        settings,
                        tenant.tenant_id,
                        c.append_s,
                        c.connections,
                        events_per_append=n,
                        idempotency=idem,
                    )
                )
                for n, idem in ((1, False), (1, True), (10, False))
            ]
            say("  the same append through the eventsourcing library")
            self.out["append_library"] = eventsourcing_append(settings, c.append_s, c.connections)

    def http(self, settings: Settings, tenant: env.Tenant) -> None:
        c = self.config
        say(
            f"commands through HTTP: API with {c.api_workers} worker(s), open loop at "
            f"{', '.join(f'{r:.0f}' for r in c.rates)}/s until saturated"
        )
        self.mark("http")
        api = procs.start_api(settings, self.logs / "cmd", c.api_workers)
        assert api.url is not None
        self.meter.track("api", api.pid)
        try:
            queues = http_sweep.create_queues(api.url, tenant)
            http_sweep.run_generator(api.url, tenant, queues, 100, 2, 0)  # warm caches, JIT-free
            steps = http_sweep.sweep(
                api.url,
                api.pid,
                tenant,
                queues,
                list(c.rates),
                c.step_s,
                c.warmup_s,
                self.meter,
                self.profile_dir,
            )
            self.out["http"] = {"api_workers": c.api_workers, "queues": len(queues), "steps": steps}
            self.out["memory"]["api_sweep"] = procs.peak_rss_mb(api.pid)
        finally:
            self.meter.untrack("api")
            api.stop()
        self.out["http"]["wrk"] = wrk.phase(settings, self.logs / "wrk", tenant, c, self.meter)

    def propagation(self) -> None:
        c = self.config
        settings = self.place("prop")
        tenant = run(env.create_tenant(settings))
        rate, note = c.propagation_rate, None
        steps = self.out.get("http", {}).get("steps", [])
        best = max((s["achieved_per_s"] for s in steps if http_sweep.sustained(s)), default=None)
        if steps and (best is None or best < rate):
            # The API alone sustained `best`; with the relay and a worker on the same 2 cores it
            # sustains less, and a saturated API would measure its backlog, not propagation.
            rate = max(50.0, float(int((best or 100) * 0.6 / 50) * 50))
            note = (
                f"{c.propagation_rate:.0f}/s is not sustainable here (the API alone "
                f"sustained {best or 0:.0f}/s): measured at {rate:.0f}/s"
            )
        say(
            f"propagation at {rate:.0f} commands/s: API, relay, worker"
            + (f" ({note})" if note else "")
        )
        self.mark("propagation")
        logs = self.logs / "prop"
        api = procs.start_api(settings, logs, c.api_workers)
        relay = procs.start(settings, "relay", ["relay"], logs)
        worker = procs.start(settings, "worker", ["worker", "--loglevel", "warning"], logs)
        for part, service in (("api", api), ("relay", relay), ("worker", worker)):
            self.meter.track(part, service.pid)
        assert api.url is not None
        try:
            queues = http_sweep.create_queues(api.url, tenant)
            caught_up = propagation.wait_caught_up(settings, tenant, queues)
            say(f"  read side live ({caught_up:.1f}s after the queues were made)")
            seconds, out = c.propagation_s + c.warmup_s, self.profile_dir
            profilers = (  # the three processes a command passes through, at the same time
                {}
                if out is None
                else {
                    part: Profiler(service.pid, seconds, out / f"{part}.raw")
                    for part, service in (("api", api), ("relay", relay), ("worker", worker))
                }
            )
            result = propagation.measure(
                settings, api.url, tenant, queues, rate, c.propagation_s, c.warmup_s, self.meter
            )
            result["rate"], result["note"] = rate, note
            result["profiles"] = {part: p.result() for part, p in profilers.items()}
            self.out["propagation"] = result
            self.out["memory"]["api_propagation"] = procs.peak_rss_mb(api.pid)
            self.out["memory"]["worker"] = procs.peak_rss_mb(worker.pid)
            self.out["memory"]["relay"] = procs.peak_rss_mb(relay.pid)
            rm, sse, stages = result["read_model"], result["sse"], result["stages"]
            say(
                f"  read model P50 {rm['p50']} P99 {rm['p99']} ms (relay P50 "
                f"{stages['relay']['p50']}, worker P50 {stages['worker']['p50']}); SSE "
                + (f"P50 {sse['p50']} P99 {sse['p99']} ms" if sse else "not served")
            )
        finally:
            for part, service in (("api", api), ("relay", relay), ("worker", worker)):
                self.meter.untrack(part)
                service.stop()

    def data(self) -> None:
        c = self.config
        settings = self.place("data")
        tenant = run(env.create_tenant(settings))
        say(
            f"filling the event store: {c.total_events:,} events "
            f"(lines of {', '.join(f'{n:,}' for n in c.lines)} waiting)"
        )
        self.mark("fill")
        filled = run(fill.fill(settings, tenant.tenant_id, c.total_events, c.lines, c.busy_queues))
        self.out["fill"] = fill.describe(filled)
        say(f"  {filled.events:,} events in {filled.seconds:.0f}s; rebuilding the read models")
        self.mark("rebuild")
        profiler = None
        if self.profile_dir is not None:  # py-spy on this very process, stopped when done
            profiler = Profiler(os.getpid(), 900, self.profile_dir / "rebuild.raw")
        self.out["rebuild"] = run(_rebuild(settings))
        if profiler is not None:
            self.out["rebuild"]["profile"] = profiler.stop()
        say(f"  rebuild: {self.out['rebuild']['events_per_s']:,} events/s; position queries")
        self.mark("reads")
        api = procs.start_api(settings, self.logs / "data", 1)
        try:
            assert api.url is not None
            settled = procs.wait_idle(api.pid)
            self.out["memory"]["api_data"] = procs.peak_rss_mb(api.pid)
            self.out["api_start_with_data"] = {"busy_s": settled, "events": filled.events}
            say(
                f"  API on {filled.events:,} events busy for {settled}s after start, peak "
                f"{self.out['memory']['api_data'].get('max_mb')} MB"
            )
            url = api.url if propagation.has_route(api.url, "/v1/tickets/{ticket_id}") else None
            self.out["reads"] = run(_reads(settings, tenant, filled.lines, c.read_calls, url))
        finally:
            api.stop()
        self.out["memory"]["bench_process"] = procs.peak_rss_mb(os.getpid())

    def notifications(self) -> None:
        c = self.config
        say(
            f"notifications: {c.notify_rate * 60:,.0f} messages/min offered (webhook + email), "
            f"{c.notifiers} notifier process(es)"
        )
        self.mark("notifications")
        phase = notify.NotificationsPhase(c, self.meter, self.logs, self.profile_dir, say)
        self.out["notifications"] = result = phase.run(self.place("notif"))
        self.out["memory"]["notifier"] = result["memory"]

    def live_followers(self) -> None:
        c = self.config
        say(
            f"live followers: {', '.join(f'{n:,}' for n in c.followers)} on one API process, "
            f"commands at {followers.COMMAND_RATE:.0f}/s"
        )
        self.mark("followers")
        phase = followers.FollowersPhase(c, self.meter, self.logs, self.profile_dir, say)
        self.out["followers"] = result = phase.run(self.place("follow"))
        self.out["memory"]["api_followers"] = result["memory"]

    def push_cost(self) -> None:
        c = self.config
        say(
            f"push cost: {', '.join(f'{n:,}' for n in c.pushes)} followers ({c.push_mix}) of one "
            f"API process, {c.push_rate:.0f} batch messages/s published, nothing else running"
        )
        self.mark("pushes")
        phase = pushes.PushesPhase(c, self.meter, self.logs, self.profile_dir, say)
        self.out["pushes"] = result = phase.run(self.place("push"))
        self.out["memory"]["api_pushes"] = result["memory"]

    def soak_phase(self) -> None:
        c = self.config
        say(
            f"soak: {c.soak_s:.0f} s at {c.soak_rate:.0f} commands/s: API, relay, worker, an SSE "
            "observer; a line a minute"
        )
        self.mark("soak")
        phase = soak.SoakPhase(c, self.meter, self.logs, RESULTS / f"{self.stamp}-soak.png", say)
        self.out["soak"] = result = phase.run(self.place("soak"))
        for part, peak in result["memory"].items():
            self.out["memory"][f"{part}_soak"] = peak

    def attempt(self, phase: str, work: Any) -> None:
        try:
            work()
        except Exception as exc:  # the run goes on: a partial result is still a result
            say(f"phase {phase} failed: {type(exc).__name__}: {exc}")
            self.out.setdefault("failures", {})[phase] = f"{type(exc).__name__}: {exc}"

    def drop(self, place: Settings, attempts: int = 4) -> None:
        for attempt in range(attempts):
            try:
                run(env.teardown(place))
                return
            except Exception as exc:  # e.g. PostgreSQL being restarted by someone's test
                if attempt == attempts - 1:
                    say(f"could not drop {place.db_schema}: {exc}")
                else:
                    time.sleep(5)

    # -- the whole run ---------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        c = self.config
        started = time.monotonic()
        try:
            # A phase that fails is reported as such; the others still run.
            if {"ceilings", "append"} & set(c.phases):
                self.attempt(
                    "ceilings+append",
                    lambda: self.ceilings_and_append(
                        store := self.place("store"), run(env.create_tenant(store))
                    ),
                )
            if "http" in c.phases:
                # A schema of its own: the API's aging scheduler loads every stream there is,
                # and the append benchmark's streams would be loaded with the queues.
                self.attempt(
                    "http", lambda: self.http(cmd := self.place("cmd"), run(env.create_tenant(cmd)))
                )
            if "propagation" in c.phases:
                self.attempt("propagation", self.propagation)
            if "data" in c.phases:
                self.attempt("data", self.data)
            if "notifications" in c.phases:
                self.attempt("notifications", self.notifications)
            if "followers" in c.phases:
                self.attempt("followers", self.live_followers)
            if "pushes" in c.phases:
                self.attempt("pushes", self.push_cost)
            if "soak" in c.phases:
                self.attempt("soak", self.soak_phase)
        finally:
            if not c.keep:
                say("dropping the benchmark's schemas, topics and keys")
                for place in self.places:
                    self.drop(place)
        self.out["seconds"] = round(time.monotonic() - started)
        return self.out


async def _rebuild(settings: Settings) -> dict[str, Any]:
    """`vq projections rebuild`'s own path: the queues folded by one process per core."""
    from projections.parallel import rebuild_in_parallel

    jobs = min(os.cpu_count() or 1, 4)
    result = await rebuild_in_parallel(settings, jobs)
    return {
        "queues": result.queues,
        "events": result.events,
        "seconds": round(result.seconds, 1),
        "events_per_s": round(result.events / max(result.seconds, 1e-9)),
        "processes": jobs,
        "peak_rss_mb": round(result.peak_rss_mb, 1),
    }


async def _reads(
    settings: Settings, tenant: env.Tenant, lines: dict[str, list[str]], calls: int, url: str | None
) -> list[dict[str, Any]]:
    import redis.asyncio as aioredis

    from eventstore.pool import open_pool
    from eventstore.postgres import PostgresEventStore
    from projections.layout import Keys

    pool = await open_pool(settings, min_size=1, max_size=2, wait=True)
    client = aioredis.Redis.from_url(settings.redis_dsn)
    try:
        return await reads.positions(
            client,
            Keys(settings.redis_prefix),
            PostgresEventStore(pool),
            tenant.tenant_id,
            lines,
            calls,
            url,
            tenant.viewer,
        )
    finally:
        await client.aclose()
        await pool.close()


def main() -> int:
    config = from_env()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    say(
        f"benchmark {'(quick) ' if config.quick else ''}on the local stack; results in "
        f"{RESULTS}/{stamp}.*"
    )
    out = Bench(config, stamp).run()
    json_path = RESULTS / f"{stamp}.json"
    report.write_json(out, json_path)
    print(report.table(out))
    chart = report.chart(out, RESULTS / f"{stamp}.png")
    print(f"\nJSON  {json_path}\nchart {chart or 'not drawn (pip install matplotlib)'}")
    return 0
