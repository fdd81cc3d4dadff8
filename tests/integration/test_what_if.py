"""`vq simulate --what-if --queue`: a real queue's day read from the PostgreSQL event store."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

from core.settings import Settings
from simulation.offline import LocalQueue, play_locally
from simulation.scenario import DayPlan, day_plans, load
from simulation.world import Person, World
from tests.integration.servers import settings_env

DAYS = 3


class StoredWorld(World):
    """The simulator's world with ticket ids the PostgreSQL store takes (UUIDs)."""

    def _arrivals(self, plan: DayPlan) -> list[Person]:
        people = super()._arrivals(plan)
        for person in people:
            person.ticket_id = str(uuid.uuid5(uuid.NAMESPACE_URL, person.ticket_id))
        return people


def _what_if(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vq.cli", "simulate", "--what-if", *args],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_a_stored_queues_day_is_replayed_from_the_event_store(
    settings: Settings, store: Any, tenant_id: str
) -> None:
    scenario = load("clinic")
    queue_id = str(uuid.uuid4())
    world = StoredWorld(
        scenario, days=DAYS, seed=2, queue_id=queue_id, tenant_id=tenant_id, id_prefix=""
    )
    # The write side's own service, on PostgreSQL: as the API would have appended the days.
    async for _ in play_locally(world.run(), queue=LocalQueue(store)):
        pass
    last = day_plans(scenario, DAYS)[-1].day

    done = _what_if(settings, "--queue", queue_id, "--runs", "3", "--json")
    assert done.returncode == 0, done.stderr
    (found,) = json.loads(done.stdout)
    assert found["day"] == last.isoformat()  # the last day the queue opened, by default
    assert found["real"]["joined"] > 100
    own, changed = found["variants"]
    assert own["median"]["joined"] == found["real"]["joined"]
    assert changed["label"].startswith("+1 counter")
    assert changed["median"]["mean_wait"] < own["median"]["mean_wait"]

    first = day_plans(scenario, DAYS)[0].day.isoformat()
    done = _what_if(settings, "--queue", queue_id, "--date", first, "--runs", "2")
    assert done.returncode == 0, done.stderr
    assert f"on {first}" in done.stdout and "Model check" in done.stdout

    for args in (
        ["--queue", "no-such-queue"],
        ["--queue", str(uuid.uuid4())],
        ["--queue", queue_id, "--date", "2024-03-09"],  # a Saturday: the clinic is closed
        ["--queue", queue_id, "--date", "yesterday"],
    ):
        done = _what_if(settings, *args, "--runs", "1")
        assert done.returncode == 2 and done.stderr.strip() and not done.stdout
