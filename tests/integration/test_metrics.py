"""A scripted minute (compressed), then Prometheus's view of it: the counts equal what was sent.

The product runs as it does in production: `vq api --workers 2` (its two processes share one
PROMETHEUS_MULTIPROC_DIR, so `/metrics` adds up both, whichever answers), the relay and a stream
worker, each with a metrics port of its own. The script: 40 enqueues, 15 calls, 10 completions,
3 invalid requests, reads, a live stream. Then every HTTP count by route template and status,
the appends, what the relay published and the worker folded, the queue's business figures and
the lags (0 once caught up) are read back from the scrapes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from tests.integration.servers import Process, api_processes, free_port

ENQUEUES, CALLS, COMPLETES = 40, 15, 10
CATCH_UP_S = 30.0
PROBES = {"/metrics", "/healthz", "/readyz"}  # asked by the harness and the test itself

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: httpx.AsyncClient, url: str) -> Samples:
    response = await http.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def named(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


class Script:
    """Sends requests and remembers each one's route template, method and status."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http, self.url = http, url
        self.sent: Counter[tuple[str, str, str]] = Counter()

    async def call(
        self, method: str, path: str, route: str, json: object = None, **params: object
    ) -> httpx.Response:
        response = await self.http.request(method, self.url + path, json=json, params=params)
        self.sent[(route, method, str(response.status_code))] += 1
        return response


async def run_script(script: Script) -> tuple[str, int]:
    counters = [str(n) for n in range(1, CALLS + 1)]
    made = await script.call(
        "POST", "/v1/queues", "/v1/queues", {"name": "M", "counters": counters}
    )
    assert made.status_code == 201, made.text
    queue_id = made.json()["queue_id"]
    for _ in range(ENQUEUES):
        answer = await script.call(
            "POST", f"/v1/queues/{queue_id}/tickets", "/v1/queues/{queue_id}/tickets", {}
        )
        assert answer.status_code == 201, answer.text
    called = []
    for counter in counters:
        answer = await script.call(
            "POST",
            f"/v1/queues/{queue_id}/call-next",
            "/v1/queues/{queue_id}/call-next",
            {"counter": counter},
        )
        assert answer.status_code == 200, answer.text
        called.append(answer.json()["ticket"]["ticket_id"])
    for ticket_id in called[:COMPLETES]:
        answer = await script.call(
            "POST", f"/v1/tickets/{ticket_id}/complete", "/v1/tickets/{ticket_id}/complete"
        )
        assert answer.status_code == 200, answer.text
    version = int(answer.json()["stream_version"])
    invalid = [
        await script.call(
            "POST", f"/v1/queues/{uuid.uuid4()}/tickets", "/v1/queues/{queue_id}/tickets", {}
        ),
        await script.call(
            "POST",
            f"/v1/queues/{queue_id}/call-next",
            "/v1/queues/{queue_id}/call-next",
            {"counter": ""},
        ),
        await script.call("GET", "/v1/queues/not-a-queue", "/v1/queues/{queue_id}"),
    ]
    assert [r.status_code for r in invalid] == [404, 422, 422], [r.text for r in invalid]
    return queue_id, version


async def caught_up(script: Script, queue_id: str, version: int) -> None:
    """Read-your-writes on the queue until the read side has the script's last event."""
    deadline = time.monotonic() + CATCH_UP_S
    while True:
        answer = await script.call(
            "GET", f"/v1/queues/{queue_id}", "/v1/queues/{queue_id}", min_version=version, wait=5
        )
        if answer.status_code == 200:
            return
        assert time.monotonic() < deadline, answer.text


async def follow_once(script: Script, queue_id: str, metrics_url: str) -> float:
    """Open a live stream and wait for the API to count its follower; returns the count seen."""
    route = "/v1/queues/{queue_id}/events"
    async with script.http.stream("GET", f"{script.url}/v1/queues/{queue_id}/events") as stream:
        script.sent[(route, "GET", str(stream.status_code))] += 1
        assert stream.status_code == 200
        deadline = time.monotonic() + 10
        while True:
            seen = value(await scrape(script.http, metrics_url), "vq_live_followers") or 0.0
            if seen >= 1 or time.monotonic() > deadline:
                return seen
            await asyncio.sleep(0.3)


async def settled(http: httpx.AsyncClient, url: str) -> Samples:
    """Scrape until no lag is left (workers commit every half second; readiness is cached)."""
    deadline = time.monotonic() + CATCH_UP_S
    while True:
        samples = await scrape(http, url)
        lags = named(samples, "vq_consumer_lag")
        relay = value(samples, "vq_relay_lag_events")
        if lags and not any(lags.values()) and relay == 0:
            return samples
        assert time.monotonic() < deadline, (lags, relay)
        await asyncio.sleep(0.5)


@pytest.mark.usefixtures("topics")
async def test_a_scrape_counts_what_was_sent(
    settings: Settings,
    store: PostgresEventStore,
    tenant_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = time.monotonic()
    key = (await TenantDirectory(store).create_key(tenant_id, "admin", "admin")).secret
    relay_port, worker_port = free_port(), free_port()
    # Started before the API's multi-process folder is set: theirs are registries of their own.
    relay = Process(settings, "relay", "--metrics-port", str(relay_port))
    worker = Process(
        settings, "worker", "--loglevel", "warning", "--metrics-port", str(worker_port)
    )
    shared = tmp_path / "prometheus"
    shared.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    try:
        with api_processes(settings, [2]) as [api]:
            headers = {"Authorization": f"Bearer {key}"}
            # A connection per request: both API processes get some (one would serve them all).
            fresh = httpx.Limits(max_keepalive_connections=0)
            async with httpx.AsyncClient(headers=headers, timeout=30, limits=fresh) as http:
                script = Script(http, api.url)
                queue_id, version = await run_script(script)
                await caught_up(script, queue_id, version)
                followers = await follow_once(script, queue_id, f"{api.url}/metrics")
                samples = await settled(http, f"{api.url}/metrics")
                relay_samples = await scrape(http, f"http://127.0.0.1:{relay_port}/metrics")
                worker_samples = await scrape(http, f"http://127.0.0.1:{worker_port}/metrics")
    finally:
        relay.stop()
        worker.stop()
    async with store.connection() as conn:
        events = (await (await conn.execute("SELECT count(*) FROM events")).fetchone())[0]

    assert followers == 1
    assert len(_requests_by_process(shared)) == 2, "one API process served every request"
    _http_counts_are_what_was_sent(samples, script.sent)
    commands = 1 + ENQUEUES + CALLS + COMPLETES
    assert value(samples, "vq_eventstore_appends_total", outcome="ok") == commands
    assert not value(samples, "vq_eventstore_appends_total", outcome="error")
    assert value(samples, "vq_eventstore_append_events_count") == commands
    assert value(samples, "vq_eventstore_append_events_sum") == events
    assert value(samples, "vq_eventstore_append_duration_seconds_count") == commands
    assert (value(relay_samples, "vq_relay_published_total") or 0) >= events
    assert (value(worker_samples, "vq_consumer_batch_size_sum") or 0) >= events
    assert (value(worker_samples, "vq_projection_apply_duration_seconds_count") or 0) >= 1
    assert value(worker_samples, "vq_projection_gap_repairs_total") is not None
    mine = {"tenant": tenant_id, "queue": queue_id}
    assert value(samples, "vq_queue_waiting", **mine) == ENQUEUES - CALLS
    assert value(samples, "vq_queue_served_total", **mine) == COMPLETES
    assert value(samples, "vq_queue_wait_target_seconds", **mine) == 900
    assert (value(samples, "vq_queue_wait_p90_seconds", **mine) or -1) >= 0
    assert value(samples, "vq_relay_lag_seconds") == 0
    assert all(value(samples, "vq_up", part=p) == 1 for p in ("postgresql", "redis", "kafka"))
    print(f"metrics test: {time.monotonic() - started:.1f}s, {events} events")


def _http_counts_are_what_was_sent(samples: Samples, sent: Counter[tuple[str, str, str]]) -> None:
    counted = {
        (labels["route"], labels["method"], labels["status"]): v
        for labels, v in ((dict(k), v) for k, v in named(samples, "vq_http_requests_total").items())
        if labels["route"] not in PROBES
    }
    assert counted == {k: float(v) for k, v in sent.items()}
    timed: Counter[tuple[str, str]] = Counter()
    for (route, method, _), count in sent.items():
        if not route.endswith("/events"):  # a live stream is not a latency
            timed[(route, method)] += count
    for (route, method), count in timed.items():
        observed = value(
            samples, "vq_http_request_duration_seconds_count", route=route, method=method
        )
        assert observed == count, (route, method)


def _requests_by_process(folder: Path) -> dict[str, float]:
    """The HTTP requests each API process counted, from its own file (those that counted any)."""
    counted = {}
    for path in folder.glob("counter_*.db"):
        merged = MultiProcessCollector.merge([str(path)], accumulate=False)  # type: ignore[no-untyped-call]
        total = sum(s.value for m in merged if m.name == "vq_http_requests" for s in m.samples)
        if total:
            counted[path.name] = total
    return counted
