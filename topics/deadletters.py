"""The events topic's dead letters: records a worker could not decode or apply.

A dead letter is the original record, byte for byte (key, value, headers), plus headers that say
why and where it came from, so it can be read by any tool, and re-driven as it was:

    vq.dlq.error      the error, in one line (at most 1000 characters)
    vq.dlq.stage      decode (the bytes or headers break the topic contract) or apply (the read
                      model could not take the event)
    vq.dlq.topic, vq.dlq.partition, vq.dlq.offset, vq.dlq.timestamp   the original coordinates
    vq.dlq.group      the consumer group that gave up on it

The dead-letter topic is keyed like the original (queue id), so a queue's dead letters stay in
order. `vq deadletters replay` writes each back to its topic and then commits the offsets of the
group `<prefix>-deadletters`: what is after that group's offsets is "pending" (`vq deadletters
list`, the readiness detail `dead_letters`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

PREFIX = "vq.dlq."
ERROR_MAX = 1000
Stage = Literal["decode", "apply"]
Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Origin:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of the dead-letter topic, read back."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers  # the original record's (ours removed)
    error: str
    stage: str
    origin: Origin
    group: str

    def as_dict(self) -> dict[str, Any]:
        ce = {name: raw.decode("utf-8", "replace") for name, raw in self.headers}
        return {
            "dead_letter": {"partition": self.partition, "offset": self.offset},
            "origin": {
                "topic": self.origin.topic,
                "partition": self.origin.partition,
                "offset": self.origin.offset,
                "timestamp": _iso(self.origin.timestamp_ms),
            },
            "stage": self.stage,
            "error": self.error,
            "group": self.group,
            "key": None if self.key is None else self.key.decode("utf-8", "replace"),
            "bytes": 0 if self.value is None else len(self.value),
            "type": ce.get("ce_type"),
            "id": ce.get("ce_id"),
        }


def group_of(topic_prefix: str) -> str:
    """The consumer group whose offsets say which dead letters were replayed."""
    return f"{topic_prefix}-deadletters"


def one_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".replace("\n", " ")
    return text[:ERROR_MAX]


def headers_for(
    original: Iterable[tuple[str, bytes | None]] | Mapping[str, bytes | None],
    origin: Origin,
    error: str,
    stage: Stage,
    group: str,
) -> Headers:
    """The dead letter's headers: the original ones (ours from an earlier trip dropped), then
    why and where from."""
    pairs = original.items() if isinstance(original, Mapping) else original
    kept = [(name, raw or b"") for name, raw in pairs if not name.startswith(PREFIX)]
    ours = {
        "error": error,
        "stage": stage,
        "topic": origin.topic,
        "partition": str(origin.partition),
        "offset": str(origin.offset),
        "timestamp": "" if origin.timestamp_ms is None else str(origin.timestamp_ms),
        "group": group,
    }
    return kept + [(PREFIX + name, text.encode("utf-8")) for name, text in ours.items()]


def parse(
    partition: int, offset: int, key: bytes | None, value: bytes | None, headers: Iterable[Any]
) -> DeadLetter:
    """A dead-letter record read back (headers as (name, bytes) pairs, as aiokafka gives them)."""
    original: Headers = []
    ours: dict[str, str] = {}
    for name, raw in headers:
        if name.startswith(PREFIX):
            ours[name.removeprefix(PREFIX)] = (raw or b"").decode("utf-8", "replace")
        else:
            original.append((name, raw or b""))
    timestamp = ours.get("timestamp", "")
    return DeadLetter(
        partition=partition,
        offset=offset,
        key=key,
        value=value,
        headers=original,
        error=ours.get("error", "?"),
        stage=ours.get("stage", "?"),
        origin=Origin(
            topic=ours.get("topic", "?"),
            partition=int(ours.get("partition", "-1") or -1),
            offset=int(ours.get("offset", "-1") or -1),
            timestamp_ms=int(timestamp) if timestamp.isdigit() else None,
        ),
        group=ours.get("group", "?"),
    )


def _iso(timestamp_ms: int | None) -> str | None:
    if timestamp_ms is None:
        return None
    moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
