"""What a scrape of the API computes: the servers' health and the lags from the readiness report,
the queues' business figures from the read models, and who may scrape at all."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request

from core.settings import Settings
from http_api.problems import ProblemError
from observability.collectors import FiguresCollector, QueueFigures, ReadinessCollector
from observability.health import Lag, Probe, Readiness
from observability.metrics import MULTIPROC_VARIABLE, share_between_processes
from query_api.operations import _figures, _may_scrape


def samples(*collectors: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_health_and_lags_come_from_the_readiness_report() -> None:
    async def fine() -> None:
        return None

    async def down() -> None:
        raise ConnectionError("gone")

    async def relay() -> Lag:
        return Lag(events=12, seconds=3.5)

    async def consumer() -> Lag:
        return Lag(events=5, partitions={("vq.queue-events", 0): 5, ("vq.queue-events", 1): 0})

    readiness = Readiness(
        [
            Probe("postgresql", fine),
            Probe("redis", down),
            Probe("kafka", fine),
            Probe("relay_lag", relay),
            Probe("consumer_lag", consumer),
        ]
    )
    collector = ReadinessCollector(readiness, "vq-projections")
    assert samples(collector) == {}  # nothing asked yet: nothing said
    await readiness.report()
    found = samples(collector)
    assert found[("vq_up", (("part", "postgresql"),))] == 1
    assert found[("vq_up", (("part", "redis"),))] == 0
    assert found[("vq_relay_lag_events", ())] == 12
    assert found[("vq_relay_lag_seconds", ())] == 3.5
    part = (("group", "vq-projections"), ("partition", "0"), ("topic", "vq.queue-events"))
    assert found[("vq_consumer_lag", part)] == 5


async def test_queue_figures_are_labelled_by_tenant_and_queue_and_read_once_per_interval() -> None:
    reads: list[int] = []

    async def read(limit: int) -> Sequence[QueueFigures]:
        reads.append(limit)
        return [
            QueueFigures("t1", "q1", 25, 10, 900.0, 312.5, {"ewma": 0.8, "quantile": 0.5}),
            QueueFigures("t1", "q2", 0, 0, 600.0, None, {}),
        ]

    figures = FiguresCollector(read, limit=1000)
    await figures.refresh()
    await figures.refresh()
    assert reads == [1000]
    found = samples(figures)
    q1, q2 = (("queue", "q1"), ("tenant", "t1")), (("queue", "q2"), ("tenant", "t1"))
    assert found[("vq_queue_waiting", q1)] == 25
    assert found[("vq_queue_served_total", q1)] == 10
    assert found[("vq_queue_wait_target_seconds", q2)] == 600
    assert found[("vq_queue_wait_p90_seconds", q1)] == 312.5
    assert ("vq_queue_wait_p90_seconds", q2) not in found  # nobody called in the last hour
    assert found[("vq_estimate_accuracy", (("estimator", "ewma"), *q1))] == 0.8


async def test_unreadable_read_models_leave_the_figures_out_rather_than_stale() -> None:
    async def broken(limit: int) -> Sequence[QueueFigures]:
        raise ConnectionError("redis is down")

    figures = FiguresCollector(broken)
    await figures.refresh()
    assert not any(name == "vq_queue_waiting" for name, _ in samples(figures))


def test_a_queue_view_becomes_its_figures() -> None:
    view = {"waiting": 7, "totals": {"served": 4, "arrived": 11}, "target_wait_seconds": 900}
    accuracy = (
        b'{"estimators": [{"estimator": "ewma", "within_20_percent": 0.75},'
        b' {"estimator": "fresh", "within_20_percent": null}]}'
    )
    found = _figures("t", "q", view, accuracy, [1000, 2000, 3000, 4000, 60_000])
    assert (found.waiting, found.served, found.target_s) == (7, 4, 900.0)
    assert found.p90_s == 60.0
    assert found.accuracy == {"ewma": 0.75}
    assert _figures("t", "q", view, None, []).p90_s is None


def request(host: str | None, headers: dict[str, str] | None = None) -> Request:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/metrics",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": None if host is None else (host, 50000),
    }
    return Request(scope)


def test_without_a_token_metrics_answer_loopback_only_and_nothing_a_proxy_passed() -> None:
    settings = Settings(env="dev")
    _may_scrape(request("127.0.0.1"), settings)
    _may_scrape(request("::1"), settings)
    for refused in (
        request("10.0.0.7"),
        request("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}),
        request("127.0.0.1", {"Forwarded": "for=203.0.113.9"}),
    ):
        with pytest.raises(ProblemError) as caught:
            _may_scrape(refused, settings)
        assert caught.value.code == "forbidden"


def test_with_a_token_only_its_bearer_may_scrape_from_anywhere() -> None:
    settings = Settings(env="dev", metrics_token="s3cret-token-for-prometheus")
    _may_scrape(
        request("10.0.0.7", {"Authorization": "Bearer s3cret-token-for-prometheus"}), settings
    )
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        with pytest.raises(ProblemError) as caught:
            _may_scrape(request("127.0.0.1", headers), settings)
        assert caught.value.code == "unauthorized"


def test_outside_development_a_short_metrics_token_is_refused() -> None:
    secrets = {
        "token_secret": "k" * 16 + "Xq3vZ8pL0aR7tY2w",
        "secret_key": "s" * 20 + "9fJ2kQ7xP1mN",
    }
    with pytest.raises(ValueError, match="VQ_METRICS_TOKEN is too short"):
        Settings(env="prod", metrics_token="prom", **secrets)
    Settings(env="prod", metrics_token="m" * 24 + "Hq7vW2pZ", **secrets)


def test_processes_behind_one_port_share_a_fresh_folder(tmp_path: Path) -> None:
    before = os.environ.pop(MULTIPROC_VARIABLE, None)
    try:
        made = share_between_processes()
        assert os.environ[MULTIPROC_VARIABLE] == made
        assert Path(made).is_dir() and not any(Path(made).iterdir())
        (tmp_path / "counter_123.db").write_bytes(b"an earlier run")
        (tmp_path / "notes.txt").write_text("not ours")
        os.environ[MULTIPROC_VARIABLE] = str(tmp_path)
        assert share_between_processes() == str(tmp_path)
        assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    finally:
        os.environ.pop(MULTIPROC_VARIABLE, None)
        if before is not None:
            os.environ[MULTIPROC_VARIABLE] = before
