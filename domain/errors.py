"""Rejections: commands the rules refuse. `code` is stable; the API maps it to a problem type."""

from __future__ import annotations

from typing import Literal

RejectionCode = Literal[
    "queue-closed",
    "queue-paused",
    "queue-full",
    "queue-empty",
    "outside-hours",
    "invalid-transition",
    "grace-expired",
    "not-found",
    "already-exists",
    "validation",
]


class Rejected(Exception):
    def __init__(self, code: RejectionCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code: RejectionCode = code
        self.detail = detail
