"""Identifiers: whether a text names a UUID (an id from outside is checked before a query that
casts it, so a malformed one is "not found", never a database error)."""

from __future__ import annotations

import uuid


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True
