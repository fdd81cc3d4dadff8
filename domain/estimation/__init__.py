"""Wait-time estimation: pure arithmetic over a queue's events (no I/O, no clock).

Wiring, per queue (a stream processor holds one `Selector` next to the queue's state, and folds
the queue's events into both from the stream's first event, in order):

    selector = Selector.default()
    evolve(state, event); selector.observe(state, event)    # every event, after evolve
    selector.estimate(state, ticket_id, at)                  # the served Estimate, or None
    selector.accuracy()                                      # AccuracyFigures per estimator

`estimate` costs about a millisecond and never walks the line (counts ahead by bisection, the
counters, the rota of the coming slots); recompute it for the tickets a page or a board shows,
not for the whole line on every event. Every number is a function of the events alone, so a
replay or a rebuild gives the same estimates and the same accuracy figures.
"""

from __future__ import annotations

# First (isort's order too): chooses, before any of them loads, whether the compiled modules run.
from domain.estimation import native  # noqa: F401
from domain.estimation.accuracy import AccuracyBook, AccuracyFigures, Outcome
from domain.estimation.learned import LearnedEstimator
from domain.estimation.model import Estimate, Estimator
from domain.estimation.rules import RuleEstimator
from domain.estimation.selector import SERVED, Selector

__all__ = [
    "SERVED",
    "AccuracyBook",
    "AccuracyFigures",
    "Estimate",
    "Estimator",
    "LearnedEstimator",
    "Outcome",
    "RuleEstimator",
    "Selector",
]
