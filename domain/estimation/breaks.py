"""Breaks staff announced (domain/breaks.py), as the projection sees them: a counter on a break
calls nobody until it is due back, then calls as an open counter does; a planned break takes its
share out of the rota's slots it covers."""

from __future__ import annotations

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
    from now, slot 0 now and ending at starts[1]) less the share of each slot the break
    covers: of the slot under way, the share of what is left of it (a counter due back in five
    minutes of a slot that ends in fifteen takes two thirds of it)."""
    start, end = window

    def off(k: int) -> float:
        if k >= len(starts):
            return level(k)  # beyond the slots known (past the horizon): no break counted
        a = starts[k]
        b = starts[k + 1] if k + 1 < len(starts) else a + SLOT_SECONDS
        covered = max(0.0, min(b, end) - max(a, start)) / (b - a)
        return level(k) * (1.0 - covered)

    return off
