"""Acceptance (issue 5, point 2): an hour of the clinic played live through the API, on an
accelerated clock, ends with the read models equal to a fold of the event store (`vq projections
check`: 0 differences) and the estimators' accuracy served by the API.

Everything runs as separate processes, as a user would run them: the API (`vq api` with
VQ_CLOCK_START and VQ_CLOCK_SPEED), the relay, a stream worker, `vq simulate --live` and
`vq projections check`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import httpx

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from simulation.live import window
from simulation.offline import decide_locally
from simulation.scenario import Scenario, load
from simulation.world import World
from tests.integration.servers import api_servers, read_side, settings_env

SPEED = 100.0  # a simulated hour in 36 s
# The API's clock starts this long before the clinic opens: it covers the driver's start-up
# (at 100x, every wall second is 100 simulated ones), and the driver waits out the rest.
LEAD = timedelta(minutes=10)


def vq(settings: Settings, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vq.cli", *args],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def viewer_get(
    store: PostgresEventStore, tenant_id: str, base: str, path: str
) -> httpx.Response:
    """GET `path` of the API at `base` with a new viewer key of the tenant."""
    viewer = await TenantDirectory(store).create_key(tenant_id, "test", "viewer")
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        return await http.get(path, headers={"Authorization": f"Bearer {viewer.secret}"})


async def offline_event_types(scenario: Scenario, hours: float, seed: int) -> list[str]:
    """The event types the domain decides for the same window with no server at all."""
    scenario, _, ends = window(scenario, hours, None)
    world = World(scenario, days=2, seed=seed, queue_id="q", tenant_id="t", id_prefix="")
    return [e.TYPE for e in await decide_locally(world.run(), until=ends)]


async def test_an_hour_of_the_clinic_live_through_the_api(
    settings: Settings, topics: list[str], store: PostgresEventStore
) -> None:
    # Played on last week's Monday: analytics keep 400 days back from the real now.
    today = date.today()
    monday = today - timedelta(days=today.weekday() + 7)
    clinic = replace(load("clinic"), start=monday)
    _, opens, _ = window(clinic, 1.0, None)
    clocked = settings.model_copy(update={"clock_start": opens - LEAD, "clock_speed": SPEED})
    with read_side(settings), api_servers(clocked, 1) as urls:
        run = vq(
            settings,
            "simulate",
            "--live",
            "--scenario",
            "clinic",
            "--hours",
            "1",
            "--date",
            monday.isoformat(),
            "--seed",
            "1",
            "--api",
            urls[0],
            "--json",
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        summary: dict[str, Any] = json.loads(run.stdout)
        queue_id = summary["queue_id"]
        assert summary["commands"] > 50, summary
        assert summary["sent"]["enqueue"] > 10 and summary["sent"]["complete"] > 5, summary
        assert summary["read_side_caught_up"], run.stderr

        # The API decided exactly what the domain decides offline for the same hour: the
        # commands went at their times, and each reaction followed the real outcome.
        records = await store.read_stream(queue_id)
        played = {k: summary.get(k) for k in ("max_lag_seconds", "refused", "wall_seconds")}
        assert [r.event.TYPE for r in records] == await offline_event_types(clinic, 1.0, seed=1), (
            f"(the driver's run: {played})"
        )
        # Stamped by the API's accelerated clock within the hour (created a minute before it).
        assert records[0].event.at >= opens - timedelta(minutes=2)
        assert records[-1].event.at < opens + timedelta(hours=1, minutes=1)

        check = vq(settings, "projections", "check", timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "checked 1 queues: 0 differences" in check.stdout, check.stdout

        # Depends on the accuracy read model and its route (GET /v1/queues/{id}/accuracy, being
        # added with the read side's estimates): a 404 here means that route is not wired yet.
        path = f"/v1/queues/{queue_id}/accuracy"
        accuracy = await viewer_get(store, summary["tenant_id"], urls[0], path)
        assert accuracy.status_code == 200, accuracy.text
        assert any(e["called"] > 0 for e in accuracy.json()["estimators"]), accuracy.json()

        # Acceptance point 4: the read models rebuilt from scratch (a full rebuild first drops
        # every key under the prefix) give the same analytics and the same accuracy figures.
        window_params = {
            "from": (opens - LEAD).isoformat(),
            "to": (opens + timedelta(hours=2)).isoformat(),
            "bucket": "15m",
        }
        viewer = await TenantDirectory(store).create_key(summary["tenant_id"], "test", "viewer")
        async with httpx.AsyncClient(
            base_url=urls[0], timeout=10, headers={"Authorization": f"Bearer {viewer.secret}"}
        ) as http:
            analytics = await http.get(f"/v1/queues/{queue_id}/analytics", params=window_params)
            assert analytics.status_code == 200, analytics.text
            assert sum(row["arrivals"] for row in analytics.json()["rows"]) > 10
            rebuilt = vq(settings, "projections", "rebuild", timeout=60)
            assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
            again = await http.get(f"/v1/queues/{queue_id}/accuracy")
            assert again.status_code == 200 and again.json() == accuracy.json()
            analytics_again = await http.get(
                f"/v1/queues/{queue_id}/analytics", params=window_params
            )
            assert analytics_again.json() == analytics.json()
