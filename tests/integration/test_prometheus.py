"""Issue 13, acceptance 4: a real Prometheus (Debian's `prometheus` package) scrapes the running
product, `vq api`, the relay and a stream worker, and evaluates deploy/prometheus/rules.yml. A query
of the API's request counter answers what was sent; once the worker is stopped while commands keep
coming, the consumer-lag alert (VqConsumerLagHigh) is seen firing through Prometheus' HTTP API
within its `for:` window.

The rules file is the shipped one, loaded whole, with one change to that alert: its `for:` (3m)
becomes FOR_S seconds and its threshold (1,000 events) LAG_THRESHOLD. A test of minutes, or one
sending thousands of commands to a shared stack, would prove nothing more: the expression itself
(aggregation, labels, annotations) is the shipped one. Prometheus scrapes and evaluates every
second here (15 s in prometheus.yml).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from tests.integration.servers import Process, api_servers, free_port

PROMETHEUS = Path("/usr/bin/prometheus")
RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules.yml"
ALERT = "VqConsumerLagHigh"
FOR_S = 5
LAG_THRESHOLD = 20
# From the moment the alert went pending (Prometheus' activeAt), firing is seen within its `for:`
# plus an evaluation (1 s) and our polling (0.25 s), with room for a busy machine.
SLACK_S = 3.0
ENQUEUES = 12  # before the worker stops: the query must find exactly these
ROUTE = "/v1/queues/{queue_id}/tickets"


def rules_for_a_test(rules: Path) -> str:
    """rules.yml with the consumer-lag alert's `for:` and threshold made for a test."""
    groups = yaml.safe_load(rules.read_text())
    [alert] = [r for g in groups["groups"] for r in g["rules"] if r.get("alert") == ALERT]
    assert re.search(r"> 1000\s*$", alert["expr"]), alert["expr"]
    alert["expr"] = re.sub(r"> 1000\s*$", f"> {LAG_THRESHOLD}", alert["expr"])
    alert["for"] = f"{FOR_S}s"
    return str(yaml.safe_dump(groups, sort_keys=False))


def config(api: str, relay: int, worker: int) -> dict[str, Any]:
    def job(name: str, target: str) -> dict[str, Any]:
        return {"job_name": name, "static_configs": [{"targets": [target]}]}

    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yml"],
        "scrape_configs": [
            job("vq-api", api.removeprefix("http://")),
            job("vq-relay", f"127.0.0.1:{relay}"),
            job("vq-worker", f"127.0.0.1:{worker}"),
        ],
    }


@contextlib.contextmanager
def prometheus(settings: dict[str, Any], rules: str) -> Iterator[str]:
    """Prometheus on a free port with a temporary folder (config, rules, data), stopped and the
    folder removed at the end. Yields its base URL."""
    if not PROMETHEUS.exists():
        pytest.fail(f"{PROMETHEUS} is missing: `make test` installs it (Debian's prometheus)")
    with tempfile.TemporaryDirectory(prefix="vq-prometheus-") as folder:
        home = Path(folder)
        (home / "prometheus.yml").write_text(yaml.safe_dump(settings))
        (home / "rules.yml").write_text(rules)
        port = free_port()
        log = (home / "prometheus.log").open("wb")
        proc = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={home / 'prometheus.yml'}",
                f"--storage.tsdb.path={home / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, proc, home / "prometheus.log")
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
            text = (home / "prometheus.log").read_text(errors="replace")
            if "level=error" in text:
                print(f"Prometheus logged:\n{text[-4000:]}")


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError("Prometheus did not get ready")


async def query(http: httpx.AsyncClient, url: str, promql: str) -> list[dict[str, Any]]:
    answer = await http.get(f"{url}/api/v1/query", params={"query": promql})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"]["result"])


async def alerts(http: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    answer = await http.get(f"{url}/api/v1/alerts")
    assert answer.status_code == 200, answer.text
    return [a for a in answer.json()["data"]["alerts"] if a["labels"]["alertname"] == ALERT]


async def until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := await check()):
        assert time.monotonic() < deadline, f"no {what} within {timeout:g} s"
        await asyncio.sleep(0.25)
    return found


@pytest.mark.usefixtures("topics")
async def test_prometheus_scrapes_the_product_and_fires_the_consumer_lag_alert(
    settings: Settings, store: PostgresEventStore, tenant_id: str
) -> None:
    started = time.monotonic()
    key = (await TenantDirectory(store).create_key(tenant_id, "admin", "admin")).secret
    relay_port, worker_port = free_port(), free_port()
    relay = Process(settings, "relay", "--metrics-port", str(relay_port))
    worker = Process(
        settings, "worker", "--loglevel", "warning", "--metrics-port", str(worker_port)
    )
    rules = rules_for_a_test(RULES)
    try:
        with (
            api_servers(settings, 1) as [api],
            prometheus(config(api, relay_port, worker_port), rules) as prom,
        ):
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(headers=headers, timeout=30) as http:
                queue_id = await _prometheus_counts_what_was_sent(http, api, prom)
                stopped = time.monotonic()
                worker.stop()  # SIGTERM: it commits what it folded and leaves the group
                print(f"worker stopped {stopped - started:.1f} s into the test")
                await _the_alert_fires_in_its_window(http, api, prom, queue_id, settings)
    finally:
        relay.stop()
        worker.stop()
    print(f"test_prometheus: {time.monotonic() - started:.1f} s in all")


async def _prometheus_counts_what_was_sent(http: httpx.AsyncClient, api: str, prom: str) -> str:
    """Enqueues folded by the worker; then Prometheus' figure of them is what was sent. Returns
    the queue."""

    async def all_up() -> bool:
        found = await query(http, prom, 'up{job=~"vq-.*"}')
        return len(found) == 3 and all(s["value"][1] == "1" for s in found)

    await until(all_up, 30, "three targets up")
    made = await http.post(f"{api}/v1/queues", json={"name": "Scraped", "counters": ["1"]})
    assert made.status_code == 201, made.text
    queue_id = made.json()["queue_id"]
    for _ in range(ENQUEUES):
        answer = await http.post(f"{api}/v1/queues/{queue_id}/tickets", json={})
        assert answer.status_code == 201, answer.text
    version = answer.json()["stream_version"]
    # The worker has folded them (read your writes): it runs and commits.
    read = await http.get(
        f"{api}/v1/queues/{queue_id}", params={"min_version": version, "wait": 30}
    )
    assert read.status_code == 200, read.text

    # One query: Prometheus' figure is what was sent.
    promql = f'sum(vq_http_requests_total{{route="{ROUTE}", method="POST", status="201"}})'

    async def counted() -> float:
        found = await query(http, prom, promql)
        return float(found[0]["value"][1]) if found else 0.0

    seen = await until(lambda: _at_least(counted, ENQUEUES), 10, "the enqueues scraped")
    assert seen == ENQUEUES, f"{promql} = {seen}, {ENQUEUES} sent"
    assert not await alerts(http, prom), "no lag alert while the worker keeps up"
    return str(queue_id)


async def _the_alert_fires_in_its_window(
    http: httpx.AsyncClient, api: str, prom: str, queue_id: str, settings: Settings
) -> None:
    """The worker is away and commands keep coming: the alert goes pending, then fires once its
    `for:` has passed (by Prometheus' own clock: its activeAt)."""
    stopped = time.time()

    sending = asyncio.create_task(_keep_enqueuing(http, api, queue_id))
    try:
        pending = await until(lambda: _state(http, prom, "pending", "firing"), 30, "the alert")
        # Waited for longer than the window: the window is checked below, from Prometheus' own
        # activeAt (a scrape that failed meanwhile would start the alert's `for:` again).
        firing = await until(lambda: _state(http, prom, "firing"), 30, f"{ALERT} firing")
        fired_at = time.time()
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
    # activeAt: when Prometheus first found the condition true (the alert went pending).
    active_at = _instant(firing["activeAt"])
    print(
        f"{ALERT}: pending {active_at - stopped:.1f} s after the worker stopped, firing seen "
        f"{fired_at - active_at:.1f} s after that (for: {FOR_S} s); "
        f"lag {float(firing['value']):.0f} events"
    )
    slowest = await query(http, prom, 'max_over_time(scrape_duration_seconds{job="vq-api"}[1m])')
    print(f"the API's slowest scrape: {float(slowest[0]['value'][1]) * 1000:.0f} ms")
    assert FOR_S <= fired_at - active_at <= FOR_S + SLACK_S
    assert (
        pending["labels"]
        == firing["labels"]
        == {
            "alertname": ALERT,
            "severity": "critical",
            "group": settings.worker_group,
            "topic": settings.events_topic,
        }
    )
    assert float(firing["value"]) > LAG_THRESHOLD
    assert firing["annotations"]["runbook"] == "deploy/prometheus/RUNBOOK.md#vqconsumerlaghigh"
    assert settings.events_topic in firing["annotations"]["summary"]


async def _at_least(read: Any, wanted: float) -> float | None:
    value = float(await read())
    return value if value >= wanted else None


async def _state(http: httpx.AsyncClient, prom: str, *states: str) -> dict[str, Any] | None:
    found = [a for a in await alerts(http, prom) if a["state"] in states]
    return found[0] if found else None


def _instant(rfc3339: str) -> float:
    """Prometheus' times have nanoseconds; Python reads microseconds."""
    trimmed = re.sub(r"(\.\d{6})\d*", r"\1", rfc3339).replace("Z", "+00:00")
    return datetime.fromisoformat(trimmed).timestamp()


async def _keep_enqueuing(http: httpx.AsyncClient, api: str, queue_id: str) -> None:
    """Commands keep coming while the worker is away: 10 a second, each acknowledged."""
    while True:
        answer = await http.post(f"{api}/v1/queues/{queue_id}/tickets", json={})
        assert answer.status_code == 201, answer.text
        await asyncio.sleep(0.1)
