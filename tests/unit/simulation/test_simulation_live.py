"""The live driver's timeline and options (the run itself: tests/integration/test_live_simulation.py)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from domain.commands import CreateQueue, EnqueueTicket, OpenQueue, SetCounterBreak
from domain.events import QueueEvent
from simulation.live import LiveOptions, window
from simulation.live_api import request_for
from simulation.offline import LocalQueue, play_locally
from simulation.scenario import Scenario, load
from simulation.world import TimedCommand, World
from vq.cli import main


def commands_in(scenario: Scenario, ends: datetime, seed: int = 3) -> Counter[str]:
    """The commands the world gives until `ends`, decided locally."""
    stream = World(scenario, days=2, seed=seed, queue_id="q", tenant_id="t", id_prefix="").run()

    async def played() -> Counter[str]:
        return Counter(
            [type(timed.command).__name__ async for timed, _ in play_locally(stream, ends)]
        )

    return asyncio.run(played())


def test_the_window_starts_at_the_first_opening() -> None:
    clinic = load("clinic")  # Monday 4 March 2024, opens 08:00 in Paris (UTC+1)
    played, begins, ends = window(clinic, 1.5, None)
    assert played == clinic
    assert begins == datetime(2024, 3, 4, 7, 0, tzinfo=UTC)
    assert ends == begins + timedelta(hours=1, minutes=30)


@pytest.mark.parametrize("start", ["10:40", "12:15", "15:00"])
def test_from_starts_the_day_later_with_the_staff_on_shift_then(start: str) -> None:
    hours, minutes = (int(x) for x in start.split(":"))
    played, begins, ends = window(load("clinic"), 1.0, hours * 60 + minutes)
    assert begins.astimezone(UTC) == datetime(2024, 3, 4, hours - 1, minutes, tzinfo=UTC)
    sent = commands_in(played, ends)
    assert sent["OpenQueue"] == 1 and sent["EnqueueTicket"] > 3
    assert sent["CallNext"] > 0 and sent["CompleteService"] > 0  # counters are at work


def test_options_refuse_an_empty_window_or_a_start_outside_the_hours() -> None:
    clinic = load("clinic")
    with pytest.raises(ValueError, match="--hours"):
        LiveOptions(api="http://x", scenario=clinic, hours=0)
    with pytest.raises(ValueError, match="08:00 to 17:00"):
        LiveOptions(api="http://x", scenario=clinic, start_minute=18 * 60)


@pytest.mark.parametrize(
    "args",
    [
        ["simulate", "--live"],
        ["simulate", "--live", "--scenario", "all"],
        ["simulate", "--live", "--scenario", "clinic", "--from", "9h"],
        ["simulate", "--live", "--scenario", "clinic", "--hours", "0"],
        ["simulate", "--live", "--scenario", "nowhere"],
    ],
)
def test_the_live_command_refuses_bad_arguments_before_any_connection(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize(("name", "sent"), [("cold_start", None), ("clinic", 480)])
def test_a_queue_without_an_expected_service_time_is_created_without_one(
    name: str, sent: int | None
) -> None:
    """The API takes 1 s or more, or nothing (a neutral first guess): 0 means nothing."""
    scenario = load(name)
    command = CreateQueue(
        queue_id="q", tenant_id="t", config=scenario.queue_config, status="closed"
    )
    body = request_for(command, "q", {}).body
    assert body is not None
    assert body.get("mean_service_seconds") == sent


def test_a_break_is_sent_as_the_api_takes_it() -> None:
    """Now, planned at a moment, or planned in minutes: the body names only what was said."""
    at = datetime(2024, 3, 4, 9, 40, tzinfo=UTC)
    bodies = [
        request_for(command, "q", {}).body
        for command in (
            SetCounterBreak(counter="3", minutes=15),
            SetCounterBreak(counter="3", starts_at=at, ends_at=at + timedelta(minutes=30)),
            SetCounterBreak(counter="3", starts_in=30, minutes=15),
        )
    ]
    assert bodies == [
        {"counter": "3", "minutes": 15},
        {"counter": "3", "starts_at": at.isoformat(), "ends_at": "2024-03-04T10:10:00+00:00"},
        {"counter": "3", "minutes": 15, "starts_in_minutes": 30},
    ]


def test_a_visitors_ticket_in_the_demo_queue_is_served_and_the_day_goes_on() -> None:
    """`make run`'s demo plays a scenario on a queue anybody may join at the kiosk: a ticket the
    world did not make is called, served and completed as its own people are, and the day goes
    on (it stopped the demo with a KeyError)."""
    played, _, ends = window(load("clinic"), 2.0, None)
    stream = World(played, days=1, seed=3, queue_id="q", tenant_id="t", id_prefix="").run()

    class Visited(LocalQueue):
        """The queue, where a visitor takes a ticket as it opens (not through the world)."""

        async def run(self, timed: TimedCommand) -> list[QueueEvent]:
            produced = await super().run(timed)
            if isinstance(timed.command, OpenQueue):
                visit = EnqueueTicket(ticket_id="visitor", channel="kiosk")
                assert await super().run(TimedCommand(timed.at, visit))
            return produced

    async def play() -> list[tuple[str, str | None]]:
        return [
            (type(timed.command).__name__, getattr(timed.command, "ticket_id", None))
            async for timed, _ in play_locally(stream, ends, Visited())
        ]

    sent = asyncio.run(play())
    visitor = [name for name, ticket in sent if ticket == "visitor"]
    assert visitor == ["StartService", "CompleteService"]
    after = sent[sent.index(("CompleteService", "visitor")) :]
    assert Counter(name for name, _ in after)["CompleteService"] > 5  # the day went on
