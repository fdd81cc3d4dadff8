"""A change's plain form (what the batch message and the replay list carry) is exactly what
`dataclasses.asdict` gives, field for field: the written-out copy must not drift from the class."""

from __future__ import annotations

import dataclasses

from projections.changes import Change, Moved


def test_as_dict_is_asdict() -> None:
    full = Change(
        version=7,
        type="TicketCalled",
        at="2026-12-02T09:00:00+00:00",
        ticket_id="t1",
        number="A-001",
        status="called",
        counter="2",
        was="waiting",
        was_counter=None,
        left=1,
        joined=None,
        shifted=[Moved("t2", "A-002", 1), Moved("t3", "A-003", 2)],
    )
    bare = Change(version=8, type="QueueOpened", at="2026-12-02T09:00:01+00:00")
    for change in (full, bare):
        assert change.as_dict() == dataclasses.asdict(change)
        assert list(change.as_dict()) == [f.name for f in dataclasses.fields(Change)]
