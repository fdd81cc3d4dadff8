"""Latency summaries: percentiles by rank over the whole sample (no histogram buckets)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of an already sorted sample, nearest rank."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, Any]:
    """P50/P95/P99/max (and count) of a sample in seconds, reported in milliseconds."""
    ordered = sorted(seconds)
    out: dict[str, Any] = {"n": len(ordered)}
    for name, q in (("p50", 50.0), ("p95", 95.0), ("p99", 99.0)):
        out[name] = round(percentile(ordered, q) * 1000, 3) if ordered else None
    out["max"] = round(ordered[-1] * 1000, 3) if ordered else None
    return out
