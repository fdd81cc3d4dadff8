"""The readiness detail `dead_letters`: how many dead letters were not replayed yet."""

from __future__ import annotations

from observability.health import Lag
from observability.kafka_probe import KafkaProbe, TopicMissing

DEAD_LETTERS = "dead_letters"


async def pending_dead_letters(probe: KafkaProbe) -> Lag | None:
    """The replay group's lag on the dead-letter topic: the records after its offsets. A
    deployment whose dead-letter topic is not made yet has none (not an outage: `vq stack
    topics` makes it)."""
    try:
        return await probe.lag()
    except TopicMissing:
        return None
