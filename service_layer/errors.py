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


class NotAssigned(Exception):
    """The command's giver acts on some queues only (staff with assignments), and the command's
    queue (the one that holds its ticket now), or a transfer's target, is not one of them."""
