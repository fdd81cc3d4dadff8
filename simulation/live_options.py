"""What a live run is asked to play (`LiveOptions`), and the window of the scenario it plays."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from simulation.scenario import Scenario, day_plans, epoch


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveOptions:
    api: str
    scenario: Scenario
    hours: float = 1.0
    start_minute: int | None = None  # of the local day; None: the scenario's opening
    seed: int = 1
    key: str | None = None  # an admin key of an existing tenant; None: a new tenant
    progress_every_s: float = 5.0
    finish_day: bool = False  # at closing time, also the close and the day's tail (_plays)
    # Play on this queue of the key's tenant, its earlier day ended first (live_adopt), if it
    # fits the scenario; None (or a queue that does not fit): a new queue.
    queue_id: str | None = None
    role_keys: dict[str, str] | None = None  # keys of ROLES to use; None: made with the key

    def __post_init__(self) -> None:
        s = self.scenario
        if not self.hours > 0:
            raise ValueError("--hours must be > 0")
        if self.start_minute is not None and not s.opens <= self.start_minute < s.closes:
            raise ValueError(
                f"--from must fall within {s.name}'s opening hours "
                f"({s.opens // 60:02d}:{s.opens % 60:02d} to "
                f"{s.closes // 60:02d}:{s.closes % 60:02d})"
            )


def window(
    scenario: Scenario, hours: float, start_minute: int | None
) -> tuple[Scenario, datetime, datetime]:
    """The scenario as played and the simulated window.

    From `start_minute` the days begin later: the queue opens then, empty, and the staff whose
    shift is on at that time start then (the world opens the queue before anyone's shift).
    """
    if start_minute is not None:
        counters = tuple(
            replace(
                c, shifts=tuple((max(a, start_minute), b) for a, b in c.shifts if b > start_minute)
            )
            for c in scenario.counters
        )
        scenario = replace(scenario, opens=start_minute, counters=counters)
    begins = epoch(scenario) + timedelta(seconds=day_plans(scenario, 1)[0].opens)
    return scenario, begins, begins + timedelta(hours=hours)
