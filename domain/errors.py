"""Rejections: commands the rules refuse. `code` is stable; the API maps it to a problem type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

RejectionCode = Literal[
    "queue-closed",
    "queue-paused",
    "queue-full",
    "queue-empty",
    "counter-busy",
    "outside-hours",
    "invalid-transition",
    "grace-expired",
    "slot-full",
    "not-found",
    "already-exists",
    "validation",
]


class Rejected(Exception):
    """`facts`: what a program needs to act on the refusal (plain JSON values), e.g. the ticket
    that keeps a counter busy; the API adds them to the problem as extension members."""

    def __init__(
        self, code: RejectionCode, detail: str, *, facts: Mapping[str, object] | None = None
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.code: RejectionCode = code
        self.detail = detail
        self.facts: dict[str, object] = dict(facts or {})
