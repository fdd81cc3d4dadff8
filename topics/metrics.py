"""The metrics of the topics' contract: schemas the registry refused, records dead-lettered."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SCHEMA_REFUSED = Gauge(
    "vq_relay_schema_refused",
    "1 while the schema registry refuses this event type's current schema (its events wait)",
    ["event_type"],
)
DEAD_LETTERS = Counter(
    "vq_dead_letters",
    "Records of the events topic a worker sent to the dead-letter topic, by stage",
    ["stage"],
)
