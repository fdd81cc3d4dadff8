"""Errors of the schemas package."""

from __future__ import annotations


class UnknownEventType(LookupError):
    """An event type or schema version that this build has no schema or dataclass for."""


class InvalidMessage(ValueError):
    """A Kafka message whose headers do not follow the topic contract (see schemas/README.md)."""
