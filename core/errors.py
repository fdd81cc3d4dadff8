"""What every layer may raise when something it depends on cannot answer now.

The HTTP floor turns any `Unavailable` into one answer: 503 with `Retry-After`, the public detail,
and nothing changed. Each dependency's adapter subclasses it (the event store, the read models,
a queue too busy to take another command in time).
"""

from __future__ import annotations


class Unavailable(Exception):
    """A dependency is down or overloaded: nothing was changed, the caller may retry later."""

    # Seconds a client should wait before retrying.
    retry_after_s: int = 2
    # What the caller is told (the exception's own text, which may name hosts, goes to the log).
    public_detail: str | None = None

    def detail(self) -> str:
        return self.public_detail or str(self)
