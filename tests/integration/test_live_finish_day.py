"""`vq simulate --live --finish-day` (what `make run`'s demo plays): a window that reaches the
closing time sends the close and the day's tail, so the day ends with the queue closed, nobody
waiting and nobody left at a counter (the demo's board used to show the queue open and two
people being served all night: the driver stopped at closing time, mid-service).

A short day of its own (20 minutes, two desks serving out the line after the close, a line at
closing time) at 120x, through the API as separate processes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from core.settings import Settings
from domain.events import QueueClosed, TicketCalled, TicketServed
from domain.evolve import evolve
from domain.state import ACTIVE_STATUSES, initial_state
from eventstore.postgres import PostgresEventStore
from simulation.live import window
from simulation.scenario import load
from tests.integration.servers import api_servers, read_side
from tests.integration.test_live_simulation import viewer_get, vq

SPEED = 120.0
LEAD = timedelta(minutes=10)  # the driver's start-up, at 120x: 5 s of wall time
SHORT_DAY = """
name = "short_day"
description = "Twenty minutes, two desks, a line at closing time"
start = "2024-03-04"
timezone = "Europe/Paris"
weekdays = [0, 1, 2, 3, 4, 5, 6]
opens = "08:00"
closes = "08:20"

[queue]
name = "Short day"
prefix = "S"
priority_classes = ["urgent", "normal"]
mean_service_seconds = 0
target_wait_seconds = 600
no_show_grace_seconds = 60

[arrivals]
# Two desks serve about 40 an hour: 60 an hour leaves a line at 08:20.
rate = [["08:00", 60], ["08:20", 60]]

[priorities]
normal = 1.0

[[service_types]]
name = "desk"
share = 1.0
median_seconds = 180
sigma = 0.3

[[counters]]
name = "1"
shifts = [["08:00", "08:20"]]

[[counters]]
name = "2"
shifts = [["08:00", "08:20"]]

[behaviour]
call_delay_seconds = [2, 10]
walk_seconds = [5, 20]
absent_probability = 0.0
recall_after_seconds = 30
no_show_after_seconds = 60
return_probability = 0.0
patience_scale_seconds = 36000
patience_shape = 2.0
cancel_share = 0.5
"""


async def test_a_window_to_closing_time_ends_closed_with_the_line_served_out(
    settings: Settings, topics: list[str], store: PostgresEventStore, tmp_path: Path
) -> None:
    path = tmp_path / "short_day.toml"
    path.write_text(SHORT_DAY, encoding="utf-8")
    day = date.today() - timedelta(days=7)  # analytics keep 400 days back from the real now
    scenario = replace(load(str(path)), start=day)
    _, opens, closes = window(scenario, 20 / 60, None)
    clocked = settings.model_copy(update={"clock_start": opens - LEAD, "clock_speed": SPEED})
    with read_side(settings), api_servers(clocked, 1) as urls:
        run = vq(
            settings,
            *("simulate", "--live", "--scenario", str(path), "--hours", str(20 / 60)),
            *("--date", day.isoformat(), "--seed", "3", "--api", urls[0], "--json"),
            "--finish-day",
            timeout=180,
        )
        assert run.returncode == 0, run.stderr
        summary: dict[str, Any] = json.loads(run.stdout)
        assert summary["read_side_caught_up"], run.stderr
        # What the board shows once the day is over: closed, nobody waiting or at a counter.
        route = f"/v1/queues/{summary['queue_id']}"
        answer = await viewer_get(store, summary["tenant_id"], urls[0], route)
        assert answer.status_code == 200, answer.text
        shown = answer.json()
        assert (shown["status"], shown["waiting"], shown["called"], shown["serving"]) == (
            "closed",
            0,
            0,
            0,
        ), shown
    records = await store.read_stream(summary["queue_id"])
    events = [r.event for r in records]

    closed = [e for e in events if isinstance(e, QueueClosed)]
    assert len(closed) == 1 and closed[0].at >= closes - timedelta(seconds=30)
    # The tail was played: people were called and served after the close.
    after = [e for e in events if e.at > closed[0].at]
    assert any(isinstance(e, TicketCalled) for e in after), [e.TYPE for e in after]
    assert any(isinstance(e, TicketServed) for e in after)

    state = initial_state(summary["queue_id"])
    for event in events:
        evolve(state, event)
    assert state.status == "closed"
    assert not state.waiting
    assert not [t.number for t in state.tickets.values() if t.status in ACTIVE_STATUSES]
