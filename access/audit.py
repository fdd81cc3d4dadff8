"""The audit trail's chain, as pure functions: how an entry is hashed, and how a run of entries
is checked.

Each entry's hash covers its own fields and the hash of the entry before it (SHA-256 over a
canonical JSON form), starting from 32 zero bytes. Editing an entry changes its hash (its stored
hash no longer matches); deleting one leaves a gap in the sequence, or a link to a hash that is
not the one before; so verification names the first entry where the chain breaks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS = bytes(32)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    tenant_id: str | None
    at: datetime
    actor: str
    action: str
    subject: str | None
    detail: dict[str, Any] = field(default_factory=dict)
    prev_hash: bytes = GENESIS
    hash: bytes = GENESIS


def entry_hash(
    prev_hash: bytes,
    seq: int,
    tenant_id: str | None,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None,
    detail: dict[str, Any],
) -> bytes:
    body = json.dumps(
        [
            prev_hash.hex(),
            seq,
            tenant_id,
            at.astimezone(UTC).isoformat(timespec="microseconds"),
            actor,
            action,
            subject,
            detail,
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(body.encode()).digest()


def rehash(entry: AuditEntry) -> bytes:
    return entry_hash(
        entry.prev_hash,
        entry.seq,
        entry.tenant_id,
        entry.at,
        entry.actor,
        entry.action,
        entry.subject,
        entry.detail,
    )


@dataclass(frozen=True, slots=True)
class Break:
    """Where the chain breaks first, and how."""

    seq: int
    reason: str

    def __str__(self) -> str:
        return f"audit entry #{self.seq}: {self.reason}"


def first_break(
    entries: Iterable[AuditEntry], after: tuple[int, bytes] = (0, GENESIS)
) -> Break | None:
    """Check entries in sequence order, following on from (seq, hash) `after`."""
    seq, previous = after
    for entry in entries:
        if entry.seq != seq + 1:
            return Break(seq + 1, f"missing (the next entry is #{entry.seq}): deleted")
        if entry.prev_hash != previous:
            return Break(entry.seq, "its link to the entry before does not match: rewritten")
        if rehash(entry) != entry.hash:
            return Break(entry.seq, "its contents do not match its hash: edited")
        seq, previous = entry.seq, entry.hash
    return None
