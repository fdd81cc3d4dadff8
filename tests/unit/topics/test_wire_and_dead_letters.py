"""The Confluent framing, the dead letters' headers, and the worker's dead-letter decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from domain.recorded import RecordedEvent
from schemas import wire
from schemas.codec import decode, encode
from schemas.errors import InvalidMessage
from streams.dead_letters import DeadLetters
from tests.contract.eventstore import T0, created
from topics import metrics
from topics.deadletters import PREFIX, Origin, headers_for, one_line, parse


def _recorded() -> RecordedEvent:
    return RecordedEvent(
        event_id="e-1",
        tenant_id="t-1",
        queue_id="q-1",
        stream_version=1,
        event=created("q-1", "t-1"),
        occurred_at=T0,
        command_id="c-1",
        correlation_id="c-1",
        actor="k-1",
    )


def test_framed_values_decode_like_plain_ones() -> None:
    message = encode(_recorded())
    assert not wire.is_framed(message.value)  # the event id's length comes first, never 0
    framed = wire.frame(258, message.value)
    assert framed[:5] == b"\x00\x00\x00\x01\x02"
    assert wire.unframe(framed) == (258, message.value)
    assert decode(framed, message.headers) == decode(message.value, message.headers)


@pytest.mark.parametrize("value", [b"", b"\x00\x00\x01", b"\x01\x00\x00\x00\x01"])
def test_a_short_or_unmarked_value_is_not_framed(value: bytes) -> None:
    with pytest.raises(InvalidMessage):
        wire.unframe(value)


def test_dead_letter_headers_keep_the_original_and_say_why() -> None:
    origin = Origin(topic="vq.queue-events", partition=2, offset=41, timestamp_ms=1_700_000_000_000)
    original = [("ce_id", b"e-1"), (PREFIX + "error", b"an earlier trip")]
    headers = headers_for(original, origin, one_line(ValueError("bad\nbody")), "decode", "g")
    assert headers[0] == ("ce_id", b"e-1") and len([h for h in headers if h[0] == "ce_id"]) == 1
    letter = parse(5, 7, b"q-1", b"v", headers)
    assert letter.headers == [("ce_id", b"e-1")]  # the earlier trip's headers are replaced
    assert letter.error == "ValueError: bad body" and letter.stage == "decode"
    assert letter.origin == origin and letter.group == "g"
    shown = letter.as_dict()
    assert shown["origin"]["timestamp"] == "2023-11-14T22:13:20.000Z"
    assert shown["id"] == "e-1" and shown["dead_letter"] == {"partition": 5, "offset": 7}


@dataclass
class _Message:
    offset: int
    value: bytes | None
    headers: list[tuple[str, bytes]]
    key: bytes = b"q-1"
    topic: str = "vq.queue-events"
    partition: int = 0
    timestamp: float = 1_700_000_000.5


@dataclass
class _Event:
    message: _Message


@dataclass
class _Topic:
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, **record: Any) -> Any:
        self.sent.append(record)

        async def acked() -> None:
            return None

        return acked()


async def test_what_does_not_decode_is_sent_on_and_the_rest_kept() -> None:
    good = encode(_recorded())
    batch = [
        _Event(_Message(0, good.value, good.headers)),
        _Event(_Message(1, b"junk", [("ce_specversion", b"0.3")])),
        _Event(_Message(2, None, good.headers)),
    ]
    topic = _Topic()
    before = metrics.DEAD_LETTERS.labels("decode")._value.get()
    records, kept = await DeadLetters(topic, "workers").decoded(batch)  # type: ignore[arg-type]
    assert [r.event_id for r in records] == ["e-1"] and kept == batch[:1]
    offsets = [parse(0, 0, s["key"], s["value"], s["headers"]).origin.offset for s in topic.sent]
    assert offsets == [1, 2]
    assert (
        parse(0, 0, None, None, topic.sent[0]["headers"]).origin.timestamp_ms == 1_700_000_000_500
    )
    assert metrics.DEAD_LETTERS.labels("decode")._value.get() == before + 2


async def test_a_poison_record_is_found_one_by_one_and_the_others_applied() -> None:
    records = [_recorded(), _recorded(), _recorded()]
    poison = records[1]
    events = [_Event(_Message(n, b"v", [])) for n in range(3)]
    applied: list[list[RecordedEvent]] = []

    async def apply(some: list[RecordedEvent]) -> list[Any]:
        if any(r is poison for r in some):
            raise RuntimeError("version 9 does not follow 3")
        applied.append(some)
        return [len(some)]

    topic = _Topic()
    updates = await DeadLetters(topic, "workers").applied(apply, records, events)  # type: ignore[arg-type]
    assert updates == [1, 1] and applied == [[records[0]], [records[2]]]
    letter = parse(0, 0, None, None, topic.sent[0]["headers"])
    assert letter.stage == "apply" and letter.origin.offset == 1
    assert letter.error == "RuntimeError: version 9 does not follow 3"


async def test_a_healthy_batch_is_applied_at_once() -> None:
    calls: list[int] = []

    async def apply(some: list[RecordedEvent]) -> list[Any]:
        calls.append(len(some))
        return []

    records = [_recorded(), _recorded()]
    topic = _Topic()
    await DeadLetters(topic, "w").applied(apply, records, [_Event(_Message(0, b"", []))] * 2)  # type: ignore[arg-type]
    assert calls == [2] and topic.sent == []
