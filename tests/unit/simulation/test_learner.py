"""The learning oracle: the oracle's forward runs, with what a day teaches in place of the truth."""

from __future__ import annotations

import asyncio
import math

import pytest

from domain.evolve import evolve
from domain.state import initial_state
from simulation.learner import LEARNER, PRIOR_MEDIAN, LearningOracle
from simulation.offline import RunResult, decide_locally, run
from simulation.scenario import load
from simulation.world import commands
from vq.cli import main


@pytest.fixture(scope="module")
def cold_start() -> RunResult:
    return run(load("cold_start"), days=1, seed=1, learner=True)


def test_it_starts_from_a_neutral_guess_not_the_truth() -> None:
    scenario = load("cold_start")
    learner = LearningOracle(scenario, days=1, seed=1)
    (service_type,) = learner.lognormal
    assert learner.lognormal[service_type][0] == pytest.approx(math.log(PRIOR_MEDIAN))
    assert learner.recent() == 0.0
    assert learner.behaviour.patience_scale > 1e12  # nobody is expected to walk away
    truth = scenario.service_types[0]
    assert not math.isclose(PRIOR_MEDIAN, truth.median_seconds, rel_tol=0.3)


def test_it_is_scored_beside_the_oracle_on_the_same_tickets(cold_start: RunResult) -> None:
    learner, oracle = cold_start.paired[LEARNER], cold_start.paired["oracle"]
    assert learner.called == oracle.called > 100
    ratio = cold_start.ratio(LEARNER)
    assert ratio is not None and 0.5 < ratio < 1.5
    # A shadow: what people were shown is the served estimator's, never the learner's.
    assert LEARNER not in cold_start.served_by


def test_after_a_day_it_knows_the_service_time_as_the_oracle_does() -> None:
    scenario = load("cold_start")
    learner = LearningOracle(scenario, days=1, seed=1)
    state = initial_state("")
    for event in asyncio.run(decide_locally(commands(scenario, days=1, seed=1))):
        evolve(state, event)
        learner.observe(state, event)
    (service_type,) = learner.lognormal
    mu, sigma = learner.lognormal[service_type]
    truth = scenario.service_types[0]
    assert math.exp(mu) == pytest.approx(truth.median_seconds, rel=0.1)
    assert sigma == pytest.approx(truth.sigma, rel=0.25)
    assert 10 < learner.recent() < 60  # arrivals an hour at the close (24 an hour then)
    assert learner.calls > 100 and 0 < learner.no_shows < learner.calls / 5


def test_the_sweep_prints_the_learner_beside_the_oracle(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["simulate", "--offline", "--scenario", "cold_start", "--seeds", "1,2"]
    code = main([*args, "--jobs", "1", "--learner"])
    out = capsys.readouterr().out
    assert code == 0
    assert "learner" in out.splitlines()[1]
    assert len([line for line in out.splitlines() if "cold_start" in line]) == 2


def test_given_the_truth_of_a_part_it_keeps_it_and_learns_the_rest() -> None:
    """`--learner-knows`: what of the oracle's lead is the arrivals', or the services'."""
    scenario = load("cold_start")
    events = asyncio.run(decide_locally(commands(scenario, days=1, seed=1)))
    truth = scenario.service_types[0]
    learners = {
        knows: LearningOracle(scenario, days=1, seed=1, knows=knows)
        for knows in ((), ("services",), ("arrivals",))
    }
    state = initial_state("")
    for event in events[: len(events) // 3]:  # the morning
        evolve(state, event)
        for learner in learners.values():
            learner.observe(state, event)
    plan = learners[()].plans[0]
    at_ten = plan.opens + 3600  # 10:00, the rush to come at 10:15
    for knows, learner in learners.items():
        (mu, sigma) = learner.lognormal[truth.name]
        knows_services = "services" in knows
        assert math.isclose(mu, math.log(truth.median_seconds)) == knows_services, knows
        assert (sigma == truth.sigma) == knows_services, knows
        true_rate = scenario.rate_per_hour(plan.weekday, plan.minute_of_day(at_ten))
        knows_arrivals = "arrivals" in knows
        assert (learner.rate(plan, at_ten) == true_rate) == knows_arrivals, knows
        assert (tuple(learner.shares()) == tuple(scenario.priorities)) == knows_arrivals, knows


def test_the_sweep_takes_what_the_learner_knows(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", "--offline", "--scenario", "cold_start", "--seed", "1"]
    assert main([*args, "--learner-knows", "arrivals"]) == 0
    assert "learner" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*args, "--learner-knows", "future"])
