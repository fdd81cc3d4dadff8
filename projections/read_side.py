"""Whether the read side keeps up, as this API process last judged it (query_api/freshness.py):
what live followers are told beside the views, so that a screen never shows stale data as live.
"""

from __future__ import annotations

from datetime import datetime


class ReadSide:
    """`delayed_since`: when the read models stopped following the event store (None: they
    follow). `version` grows at each change: a follower that told its client an older one says
    the new one with its next message."""

    __slots__ = ("delayed_since", "version")

    def __init__(self) -> None:
        self.delayed_since: datetime | None = None
        self.version = 0

    def judged(self, delayed_since: datetime | None) -> bool:
        """Take a new judgement; whether it changed what followers were told."""
        if (delayed_since is None) == (self.delayed_since is None):
            return False
        self.delayed_since = delayed_since
        self.version += 1
        return True


class Told:
    """What one follower's client was last told of the read side. At the start it counts as told
    the state, unless the read side is delayed: a client assumes its views are current."""

    __slots__ = ("_read_side", "_version")

    def __init__(self, read_side: ReadSide) -> None:
        self._read_side = read_side
        self._version = read_side.version if read_side.delayed_since is None else -1

    def news(self) -> bool:
        """Whether the state changed since the client was told; from now on it counts as told."""
        if self._version == self._read_side.version:
            return False
        self._version = self._read_side.version
        return True
