"""How the simulator writes a duration, a share and a change in its reports (the what-if,
staffing, aging, routing),
and a staffing plan as the file a manager edits. Light: the API imports it too."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable


def as_minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


def as_percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f} %"


def as_change(change: float | None) -> str:
    """A relative change: -0.2 is "-20.0 %"."""
    return "-" if change is None else f"{100 * change:+.1f} %"


def plan_csv(slots: Iterable[tuple[str, float, int]]) -> str:
    """A plan as the file a manager edits and `--plan` reads: time,forecast,counters (the CLI's
    `--csv` and the API's `?format=csv` both write it so)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["time", "forecast", "counters"])
    writer.writerows([time, f"{forecast:.1f}", counters] for time, forecast, counters in slots)
    return out.getvalue()
