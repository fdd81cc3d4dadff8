"""The native stack (PostgreSQL, Redis, Kafka in KRaft mode) that `vq stack` runs on one machine.

`ensure_topics` is re-exported lazily so that importing `deploy` does not import aiokafka.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deploy.topics import ensure_topics

__all__ = ["ensure_topics"]


def __getattr__(name: str) -> Any:
    if name == "ensure_topics":
        from deploy.topics import ensure_topics

        return ensure_topics
    raise AttributeError(f"module 'deploy' has no attribute {name!r}")
