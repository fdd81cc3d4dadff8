"""What the receivers saw, matched to the records that caused it: delivered, lost, duplicated,
event-to-delivery latency, the delivered rate over time; and the attempts PostgreSQL recorded."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import psycopg

from bench.notify_load import Source
from bench.stats import percentile, summary_ms
from core.settings import Settings

Seen = Sequence[Sequence[Any]]  # [message id, arrival (monotonic), status]


def _firsts(seen: Seen) -> tuple[dict[str, float], int, int]:
    """First 2xx arrival per id; how many 2xx came again for an id; how many were refused."""
    first: dict[str, float] = {}
    again = refused = 0
    for ident, at, status in seen:
        if status >= 300:
            refused += 1
        elif ident in first:
            again += 1
            first[ident] = min(first[ident], at)
        else:
            first[ident] = at
    return first, again, refused


def _channel(
    sources: list[Source], due: list[float], seen: Seen, email: bool
) -> tuple[dict[str, Any], list[tuple[float, float]]]:
    first, again, refused = _firsts(seen)
    pairs = []  # (due, arrival) per delivered message
    for source, at in zip(sources, due, strict=True):
        arrived = first.get(source.email_id if email else source.webhook_id)
        if arrived is not None:
            pairs.append((at, arrived))
    latency = [max(arrived - at, 0.0) for at, arrived in pairs]
    return {
        "expected": len(sources),
        "delivered": len(pairs),
        "lost": len(sources) - len(pairs),
        "duplicates": again,
        "requests": len(seen),
        "refused": refused,
        "latency": summary_ms(latency),
    }, pairs


def _timeline(
    t0: float, webhook: list[tuple[float, float]], email: list[tuple[float, float]]
) -> list[dict[str, Any]]:
    """Per second from t0: messages delivered (by arrival) and P50/P99 latency (by due time)."""
    both = webhook + email
    if not both:
        return []
    seconds = math.ceil(max(arrived for _, arrived in both) - t0) + 1
    delivered = [[0, 0] for _ in range(seconds)]
    latencies: list[list[float]] = [[] for _ in range(seconds)]
    for channel, pairs in enumerate((webhook, email)):
        for due, arrived in pairs:
            delivered[max(0, int(arrived - t0))][channel] += 1
            latencies[max(0, int(due - t0))].append(arrived - due)
    out = []
    for second in range(seconds):
        ordered = sorted(latencies[second])
        out.append(
            {
                "t": second,
                "webhook": delivered[second][0],
                "email": delivered[second][1],
                "p50_ms": round(percentile(ordered, 50) * 1000, 1) if ordered else None,
                "p99_ms": round(percentile(ordered, 99) * 1000, 1) if ordered else None,
            }
        )
    return out


def analyse(
    sources: list[Source], produced: dict[str, Any], rate: float, webhook: Seen, email: Seen
) -> dict[str, Any]:
    t0, end = produced["t0"], produced["end"]
    due = [t0 + index / rate for index in range(len(sources))]
    hooks, hook_pairs = _channel(sources, due, webhook, email=False)
    mails, mail_pairs = _channel(sources, due, email, email=True)
    # The delivered rate once the pipeline is under way: the first tenth of the step is its
    # ramp (consumers' first fetches), not its pace.
    start = t0 + (end - t0) / 10
    in_window = sum(1 for _, at in hook_pairs + mail_pairs if start <= at <= end)
    arrivals = [at for _, at in hook_pairs + mail_pairs]
    all_latency = [max(at - d, 0.0) for d, at in hook_pairs + mail_pairs]
    return {
        "records": len(sources),
        "window_monotonic": [round(t0, 3), round(end, 3)],  # to match other processes' records
        "messages_expected": 2 * len(sources),
        "messages_delivered": len(arrivals),
        "lost": 2 * len(sources) - len(arrivals),
        "duplicates": hooks["duplicates"] + mails["duplicates"],
        "offered_per_min": round(2 * rate * 60),
        "delivered_per_min": round(in_window / max(end - start, 1e-9) * 60),
        "last_after_end_s": round(max(arrivals) - end, 2) if arrivals else None,
        "generator_max_late_ms": produced["max_late_ms"],
        "latency": summary_ms(all_latency),
        "webhook": hooks,
        "email": mails,
        "timeline": _timeline(t0, hook_pairs, mail_pairs),
    }


def attempts(settings: Settings, message_ids: list[str]) -> dict[str, Any]:
    """What the channel workers recorded for these messages: attempts by outcome and error."""
    with psycopg.connect(
        settings.pg_url, options=f"-c search_path={settings.db_schema}", autocommit=True
    ) as conn:
        rows = conn.execute(
            """SELECT d.channel, a.outcome, COALESCE(left(a.error, 40), ''), count(*)
               FROM delivery_attempts a JOIN deliveries d USING (message_id)
               WHERE a.message_id = ANY(%s) GROUP BY 1, 2, 3 ORDER BY 4 DESC""",
            (message_ids,),
        ).fetchall()
        states = conn.execute(
            "SELECT status, count(*) FROM deliveries WHERE message_id = ANY(%s) GROUP BY 1",
            (message_ids,),
        ).fetchall()
    hooks = [row for row in rows if row[0] == "webhook"]
    total = sum(row[3] for row in hooks)
    failed = sum(row[3] for row in hooks if row[1] != "delivered")
    return {
        "webhook_attempts": total,
        "webhook_failed": failed,
        "webhook_failure_rate": round(failed / total, 4) if total else None,
        "by_outcome": [[row[0], row[1], row[2], row[3]] for row in rows],
        "messages_by_status": {row[0]: row[1] for row in states},
    }
