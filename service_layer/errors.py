"""What the service layer refuses, beside the domain's own rejections (`domain.errors.Rejected`)."""

from __future__ import annotations

from core.errors import Unavailable


class QueueBusy(Unavailable):
    """Too many commands already wait for this queue in this process: shed load (503)."""

    retry_after_s = 1


class VersionConflict(Exception):
    """The queue kept changing under us, or was not at the version the command named (If-Match)."""


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was already used for a different request."""
