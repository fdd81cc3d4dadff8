"""Revoked credentials, as every API process hears of them: one Redis channel per deployment
(prefix), whose messages name what stopped being valid. Whoever revokes publishes
(access/revocations.py); each process's live-push hub listens (projections/fanout.py) and ends
the live connections that used it. The names live here, in the leaf every layer may import.
"""

from __future__ import annotations

import json
from typing import Final

# What a revocation may name: an API key, a sign-in session, or a person (all of their sessions).
KINDS: Final = ("key_id", "session_id", "user_id")


def revocations_channel(prefix: str) -> str:
    """The channel revocations are published on (a plain channel: no glob characters matter)."""
    return f"{prefix}:live:revoked"


def revocation_message(kind: str, value: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"a revocation names one of {', '.join(KINDS)}, not {kind}")
    return json.dumps({kind: value})


def parse_revocation(data: bytes | str) -> dict[str, str]:
    """What a message revokes ({kind: id}); empty for one that is not a revocation."""
    try:
        found = json.loads(data)
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {kind: value for kind in KINDS if isinstance(value := found.get(kind), str) and value}
