"""Breaks staff announced (domain/breaks.py), as the projection sees them: a counter on a break
calls nobody until it is due back, then calls as an open counter does; a planned break takes its
share out of the rota's slots it covers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime

from domain.estimation.profiles import SLOT_SECONDS

# Per counter, its break under way or planned: (starts, ends), as QueueState.breaks keeps them.
Breaks = dict[str, tuple[datetime, datetime]]


def break_window(
    breaks: Breaks, counter: str, at: datetime, grace: float
) -> tuple[float, float] | None:
    """The counter's break in seconds from `at` (start, end): under way, to come, or over less
    than `grace` ago (due back: it calls as soon as it is, not after being away as long again)."""
    found = breaks.get(counter)
    if found is None:
        return None
    start, end = ((moment - at).total_seconds() for moment in found)
    return (start, end) if end > -grace else None


def without_break(
    level: Callable[[int], float], starts: Sequence[float], window: tuple[float, float]
) -> Callable[[int], float]:
    """`level` (the chance the counter is open in slot k, slots starting at `starts` seconds
    from now) less the share of each slot the break covers; now, all of it once under way."""
    start, end = window

    def off(k: int) -> float:
        if k == 0:
            return 0.0 if start <= 0 else level(0)
        a = starts[k] if k < len(starts) else math.inf
        covered = max(0.0, min(a + SLOT_SECONDS, end) - max(a, start)) / SLOT_SECONDS
        return level(k) * (1.0 - covered)

    return off
