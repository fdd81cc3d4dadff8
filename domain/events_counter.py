"""The counters' own events (apart from domain/events.py, which re-exports them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar


@dataclass(frozen=True, slots=True, kw_only=True)
class CounterBreakSet:
    """A counter goes on a break from `starts_at` (now, or later: a planned break) until
    `ends_at`, when it is expected back. It replaces whatever break the counter had; `ends_at` at
    or before `starts_at` means none (back early, or the plan dropped)."""

    TYPE: ClassVar[str] = "CounterBreakSet"
    VERSION: ClassVar[int] = 1
    counter: str
    starts_at: datetime
    ends_at: datetime
    at: datetime
