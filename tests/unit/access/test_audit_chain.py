"""The audit chain, pure: an intact run verifies; an edit, a deletion and a rewritten link are
each named at the first entry where the chain breaks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from access.audit import GENESIS, AuditEntry, entry_hash, first_break


def chain(count: int) -> list[AuditEntry]:
    made, previous = [], GENESIS
    start = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    for seq in range(1, count + 1):
        at = start + timedelta(seconds=seq)
        detail = {"key_id": f"k{seq}", "role": "staff"}
        digest = entry_hash(previous, seq, "t1", at, "admin", "key_created", f"k{seq}", detail)
        made.append(AuditEntry(seq, "t1", at, "admin", "key_created", f"k{seq}", detail, previous, digest))  # fmt: skip
        previous = digest
    return made


def test_an_intact_chain_verifies() -> None:
    assert first_break(chain(20)) is None
    assert first_break([]) is None


def test_an_edited_entry_is_named() -> None:
    entries = chain(10)
    entries[4] = replace(entries[4], detail={"key_id": "k5", "role": "admin"})
    found = first_break(entries)
    assert found is not None and found.seq == 5 and "edited" in found.reason


def test_a_deleted_entry_is_named() -> None:
    entries = chain(10)
    del entries[6]
    found = first_break(entries)
    assert found is not None and found.seq == 7 and "deleted" in found.reason


def test_a_deleted_entry_with_the_sequence_renumbered_breaks_the_link() -> None:
    entries = chain(10)
    del entries[6]
    entries[6:] = [replace(e, seq=e.seq - 1) for e in entries[6:]]
    found = first_break(entries)
    assert found is not None and found.seq == 7 and "rewritten" in found.reason


def test_the_last_entry_deleted_is_not_visible_from_the_chain_alone() -> None:
    # What a chain cannot show by itself: its tail cut off. (An anchor kept elsewhere would.)
    assert first_break(chain(10)[:-1]) is None
