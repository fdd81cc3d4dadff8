"""The what-if replay: a recorded day learned from its events, played again with its own
staffing and with other staffing, through the real domain rules."""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from domain.events import QueueEvent, TicketEnqueued, TicketServed
from simulation.offline import decide_locally
from simulation.recorded import NoDay, RecordedDay, Visit, learn
from simulation.replay import (
    BadChange,
    Patience,
    Plan,
    add_counter,
    busiest,
    counter_hours,
    own_plan,
    parse_window,
    remove_counter,
)
from simulation.scenario import day_plans, load
from simulation.whatif import MODEL_TOLERANCE, replay_events, what_if
from simulation.world import commands
from vq.cli import main

DAYS = 6  # five days of history, then the day to replay


@pytest.fixture(scope="module")
def clinic() -> tuple[list[QueueEvent], date]:
    scenario = load("clinic")
    events = asyncio.run(decide_locally(commands(scenario, days=DAYS, seed=1)))
    return events, day_plans(scenario, DAYS)[-1].day


@pytest.fixture(scope="module")
def day(clinic: tuple[list[QueueEvent], date]) -> RecordedDay:
    return learn(*clinic)


def _hours(spans: tuple[tuple[float, float], ...]) -> list[tuple[float, float]]:
    return [(round(a / 3600, 2), round(b / 3600, 2)) for a, b in spans]


def test_the_day_is_learned_from_its_events(day: RecordedDay) -> None:
    joined = [e for e in day.events if isinstance(e, TicketEnqueued)]
    assert len(day.visits) == len(joined) > 100
    served = [v for v in day.visits if v.service is not None]
    assert served and all(v.service > 0 for v in served)
    # The clinic's rota (simulation/scenarios/clinic.toml): counter 1 works 08:00-12:00 and
    # 13:00-17:00, counter 3 from 09:00; both are found from the calls alone, to a few minutes.
    one = _hours(day.shifts["1"])
    assert len(one) == 2
    assert one[0][0] == pytest.approx(8.0, abs=0.1) and one[0][1] == pytest.approx(12.0, abs=0.3)
    assert one[1][0] == pytest.approx(13.0, abs=0.1)
    assert _hours(day.shifts["3"])[0][0] == pytest.approx(9.0, abs=0.1)
    # The clinic's counters call within 3-25 s of getting free; walks take 15-75 s.
    assert 2 <= day.call_delay[0] < day.call_delay[1] <= 30
    assert 10 <= day.walk[0] < day.walk[1] <= 80


def test_a_day_the_queue_did_not_open_is_refused(clinic: tuple[list[QueueEvent], date]) -> None:
    events, _ = clinic
    with pytest.raises(NoDay):
        learn(events, date(2024, 3, 9))  # a Saturday: the clinic is closed


def test_the_replay_as_staffed_reproduces_the_real_day(
    clinic: tuple[list[QueueEvent], date],
) -> None:
    result = what_if(*clinic, runs=5)
    own = result.variants[0]
    assert own.median("joined") == result.real.joined
    for name in ("mean_wait", "p90_wait"):
        change = result.change(name, own)
        assert change is not None and abs(change) <= MODEL_TOLERANCE, (name, change)
    assert result.model_holds()


def test_a_counter_more_in_the_rush_shortens_the_waits_and_one_less_lengthens_them(
    clinic: tuple[list[QueueEvent], date], day: RecordedDay
) -> None:
    rush = busiest(day, 7200)
    more = Plan("more", add_counter(day.shifts, rush), day.config)
    fewer = Plan("fewer", remove_counter(day.shifts, rush), day.config)
    result = what_if(*clinic, [more, fewer], runs=3)
    own, plus, minus = result.variants
    assert counter_hours(more.shifts) == pytest.approx(counter_hours(day.shifts) + 2.0)
    assert counter_hours(fewer.shifts) == pytest.approx(counter_hours(day.shifts) - 2.0, abs=0.01)
    assert (plus.median("mean_wait") or 0) < 0.8 * (own.median("mean_wait") or 0)
    assert (minus.median("mean_wait") or 0) > 1.2 * (own.median("mean_wait") or 0)


def test_every_person_of_the_day_is_replayed_and_served_once_at_most(day: RecordedDay) -> None:
    events = replay_events(day, own_plan(day), seed=3)
    joined = {e.ticket_id for e in events if isinstance(e, TicketEnqueued)}
    assert joined == {v.ticket_id for v in day.visits}
    served = Counter(e.ticket_id for e in events if isinstance(e, TicketServed))
    assert served and max(served.values()) == 1
    again = replay_events(day, own_plan(day), seed=3)
    assert [type(e).__name__ for e in again] == [type(e).__name__ for e in events]  # seeded


def test_the_busiest_window_is_where_most_people_joined(day: RecordedDay) -> None:
    window = parse_window("busiest:2h", day)
    assert window.end - window.start == 7200 and window.start % 900 == 0
    inside = sum(1 for v in day.visits if window.start <= v.arrived < window.end)
    for start in range(int(day.opens), int(day.closes) - 7200, 900):
        other = sum(1 for v in day.visits if start <= v.arrived < start + 7200)
        assert other <= inside
    assert parse_window("busiest:90m", day).end - parse_window("busiest:90m", day).start == 5400
    assert parse_window("10:00-11:30", day).label() == "10:00-11:30"


@pytest.mark.parametrize("text", ["11:00-10:00", "25:00-26:00", "10:61-11:00", "soon", ""])
def test_a_bad_window_is_refused(day: RecordedDay, text: str) -> None:
    with pytest.raises(BadChange):
        parse_window(text, day)


def test_no_counter_to_take_off_is_refused(day: RecordedDay) -> None:
    with pytest.raises(BadChange):
        remove_counter(day.shifts, parse_window("05:00-06:00", day))


def _visit(arrived: float, *, called: float | None = None, cancelled: float | None = None) -> Visit:
    return Visit("t", arrived, "normal", None, called=called, cancelled=cancelled)


def test_patience_is_learned_with_those_who_never_gave_up_counted() -> None:
    visits = [_visit(0, cancelled=600), _visit(0, cancelled=1200)] + [
        _visit(0, called=w) for w in (100, 300, 900, 1500, 2000)
    ]
    patience = Patience(visits)
    assert patience.of(visits[0], 0.5) == 600  # who gave up keeps their own
    assert patience.of(_visit(0), 0.5) == math.inf  # never called nor gone: no evidence
    assert patience.of(_visit(0, called=1500), 0.01) == math.inf  # outlasted every give-up
    # Kaplan-Meier: one of the five still waiting at 600 s gave up then (survival 0.8), one of
    # the three still waiting at 1200 s (0.8 x 2/3 = 0.53). Somebody called after 100 s gives
    # up at 600 s on a fifth of the draws, at 1200 s on the next quarter, else never.
    assert patience.of(_visit(0, called=100), 0.9) == 600
    assert patience.of(_visit(0, called=100), 0.7) == 1200
    assert patience.of(_visit(0, called=100), 0.5) == math.inf


def test_the_command_line_prints_the_day_and_the_gain(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chart = tmp_path / "day.png"
    code = main(
        ["simulate", "--what-if", "--scenario", "clinic", "--seed", "1", "--runs", "2",
         "--chart", str(chart)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "real day" in out and "replay: as staffed" in out and "+1 counter" in out
    assert "Model check" in out and "counter-hours" in out
    assert "mean wait: urgent" in out  # per class, as each person was on the real day
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code = main(
        ["simulate", "--what-if", "--scenario", "clinic", "--runs", "1", "--json",
         "--remove-counter", "10:00-12:00", "--aging-minutes", "20"]
    )  # fmt: skip
    found = json.loads(capsys.readouterr().out)
    assert code == 0
    assert found[0]["variants"][1]["label"] == "-1 counter 10:00-12:00, aging 20 min"
    assert found[0]["variants"][1]["class_waits"]["normal"] > 0


@pytest.mark.parametrize(
    "extra",
    [["--add-counter", "nope"], ["--runs", "0"], ["--remove-counter", "05:00-06:00"]],
)
def test_the_command_line_refuses_bad_changes(
    extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["simulate", "--what-if", "--scenario", "clinic", "--runs", "1", *extra])
    assert code == 2
    assert capsys.readouterr().err.strip()


def test_first_come_first_served_replays_everybody_in_one_class(
    day: RecordedDay, clinic: tuple[list[QueueEvent], date]
) -> None:
    own = own_plan(day)
    config = replace(own.config, priority_classes=(own.config.default_priority,))
    events = replay_events(day, replace(own, label="first come", config=config), seed=1)
    joined = [e for e in events if isinstance(e, TicketEnqueued)]
    assert len(joined) == len(day.visits)  # nobody refused for a class the policy lacks
    assert {e.priority for e in joined} == {own.config.default_priority}
    assert {v.priority for v in day.visits} != {own.config.default_priority}  # there were others
    first_come = replace(own, label="first come", config=config)
    result = what_if(*clinic, [first_come], runs=1)
    urgent = [v.class_wait("urgent") for v in result.variants]
    assert urgent[0] is not None and urgent[1] is not None
    assert urgent[1] > 3 * urgent[0]  # the urgent wait with the others: the price of the policy
