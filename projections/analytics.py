"""Analytics: what happened in each queue per 15-minute bucket, from event times only.

`measure` turns one event (with the ticket as it was just before it) into counter increments and
samples (wait and service times) of the buckets the event's time falls in. The stream processors
write those as HINCRBY/RPUSH in the same atomic batch as the rest of the read model, and the
rebuild adds them up in memory and writes the totals: the same measurements either way, so a
rebuild gives the same numbers, and a replay too (no process clock is read anywhere).

Definitions (per queue, per bucket):
* arrivals: tickets that joined (enqueue); transferred_in / transferred_out: moved between queues
* called: first calls of a ticket in this queue; its wait = called at - first enqueued (the
  customer's wait, across transfers); within_target: waits <= the queue's target wait (SLA)
* promised: first calls of tickets that were shown a range when they joined; over_twice: those
  whose wait since was over twice the P50 they were shown (domain.estimation.accuracy
  .over_twice): the fairness figure, from the events alone (the range is the estimators' fold)
* served, no_shows, walkaways (cancelled by the customer), cancellations (by staff), promoted
* service time = served at - started at (or called at when service was never started)
* per counter: served, service time, busy time (service intervals, split across buckets)
* routed: tickets the API sent to the best queue (`ROUTED_METADATA`), and at their first call
  their wait and, for those shown a range, its P50 against the wait since: what the routing
  promised and what it gave
* per service type (`t:<metric>:<type>`, "" when none): served, the sum of service times (ms) and
  of their squares (s^2): what "slower than usual for this service type" is judged on
  (projections.bottlenecks)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.commands import ROUTED_METADATA
from domain.config import QueueConfig
from domain.estimation.accuracy import over_twice
from domain.estimation.model import Estimate
from domain.events import (
    AppointmentCheckedIn,
    QueueEvent,
    TicketCalled,
    TicketCancelled,
    TicketEnqueued,
    TicketNoShow,
    TicketPromoted,
    TicketServed,
    TicketTransferredIn,
    TicketTransferredOut,
)
from domain.state import TicketState
from projections.layout import Keys

BUCKET_S = 900
SAMPLES = ("wait", "service")


def bucket_of(at: datetime) -> int:
    seconds = int(at.astimezone(UTC).timestamp())
    return seconds - seconds % BUCKET_S


def _ms(start: datetime, end: datetime) -> int:
    return max(0, round((end - start).total_seconds() * 1000))


@dataclass(slots=True)
class Measures:
    """Increments and samples of one or more events, by bucket start (epoch seconds)."""

    counts: dict[int, dict[str, int]] = field(default_factory=dict)
    samples: dict[int, dict[str, list[int]]] = field(default_factory=dict)

    def add(self, bucket: int, name: str, amount: int = 1) -> None:
        fields = self.counts.setdefault(bucket, {})
        fields[name] = fields.get(name, 0) + amount

    def sample(self, bucket: int, metric: str, value: int) -> None:
        self.samples.setdefault(bucket, {}).setdefault(metric, []).append(value)

    def merge(self, other: Measures) -> None:
        for bucket, fields in other.counts.items():
            for name, amount in fields.items():
                self.add(bucket, name, amount)
        for bucket, metrics in other.samples.items():
            for metric, values in metrics.items():
                self.samples.setdefault(bucket, {}).setdefault(metric, []).extend(values)

    def buckets(self) -> set[int]:
        return set(self.counts) | set(self.samples)


def measure(
    config: QueueConfig,
    before: TicketState | None,
    event: QueueEvent,
    promised: Estimate | None = None,
) -> Measures:
    """What one event adds to the analytics; `before` is its ticket just before the event,
    `promised` the range it was shown when it joined this queue, if any."""
    found = Measures()
    at = event.at
    bucket = bucket_of(at)
    if isinstance(event, TicketEnqueued):
        found.add(bucket, "arrivals")
        found.add(bucket, f"arrivals:{event.priority}")
        if event.metadata.get(ROUTED_METADATA):
            found.add(bucket, "routed")
    elif isinstance(event, AppointmentCheckedIn):
        found.add(bucket, "arrivals")
        found.add(bucket, f"arrivals:{event.priority}")
        found.add(bucket, "appointments")
    elif isinstance(event, TicketTransferredIn):
        found.add(bucket, "transferred_in")
    elif isinstance(event, TicketTransferredOut):
        found.add(bucket, "transferred_out")
    elif isinstance(event, TicketPromoted):
        found.add(bucket, "promoted")
    elif isinstance(event, TicketCalled) and before is not None and before.called_at is None:
        wait = _ms(before.enqueued_at, at)
        found.add(bucket, "called")
        found.sample(bucket, "wait", wait)
        if wait <= config.target_wait_seconds * 1000:
            found.add(bucket, "within_target")
        if promised is not None:
            # Against the wait since the range was given (a transfer's: since it came in).
            found.add(bucket, "promised")
            if over_twice((at - promised.at).total_seconds(), promised.p50):
                found.add(bucket, "over_twice")
        if before.metadata.get(ROUTED_METADATA):
            _routed_call(found, bucket, wait, promised, at)
    elif isinstance(event, TicketServed) and before is not None:
        began = before.started_at or before.called_at or at
        service = _ms(began, at)
        found.add(bucket, "served")
        found.sample(bucket, "service", service)
        found.add(bucket, f"c:{event.counter}:served")
        found.add(bucket, f"c:{event.counter}:service_ms", service)
        for part_bucket, busy in _split(began, at):
            found.add(part_bucket, f"c:{event.counter}:busy_ms", busy)
        kind = before.service_type or ""
        found.add(bucket, f"t:served:{kind}")
        found.add(bucket, f"t:service_ms:{kind}", service)
        found.add(bucket, f"t:service_s2:{kind}", round(service / 1000) ** 2)
    elif isinstance(event, TicketNoShow):
        found.add(bucket, "no_shows")
    elif isinstance(event, TicketCancelled):
        found.add(bucket, "walkaways" if event.by == "customer" else "cancellations")
    return found


def _routed_call(
    found: Measures, bucket: int, wait: int, promised: Estimate | None, at: datetime
) -> None:
    """A routed ticket's first call: its wait, and the P50 it was shown against the wait since."""
    found.add(bucket, "routed_called")
    found.add(bucket, "routed_wait_ms", wait)
    if promised is not None:
        found.add(bucket, "routed_shown")
        found.add(bucket, "routed_shown_ms", round(promised.p50 * 1000))
        found.add(bucket, "routed_shown_wait_ms", _ms(promised.at, at))


def _split(start: datetime, end: datetime) -> Iterable[tuple[int, int]]:
    """The interval's milliseconds in each bucket it touches."""
    start_ms = round(start.astimezone(UTC).timestamp() * 1000)
    end_ms = round(end.astimezone(UTC).timestamp() * 1000)
    cursor = start_ms
    while cursor < end_ms:
        bucket = (cursor // 1000) - (cursor // 1000) % BUCKET_S
        bucket_end_ms = (bucket + BUCKET_S) * 1000
        stop = min(end_ms, bucket_end_ms)
        yield bucket, stop - cursor
        cursor = stop


Command = tuple[str, ...]


def increment_commands(
    keys: Keys, tenant: str, queue: str, found: Measures, retention_s: int
) -> list[Command]:
    """Measures as Redis commands that add to what is stored (the stream processors' path)."""
    commands: list[Command] = []
    for bucket in sorted(found.buckets()):
        key = keys.analytics(tenant, queue, bucket)
        for name, amount in sorted(found.counts.get(bucket, {}).items()):
            commands.append(("HINCRBY", key, name, str(amount)))
        for metric, values in sorted(found.samples.get(bucket, {}).items()):
            commands.append(("RPUSH", f"{key}:{metric}", *map(str, values)))
        commands.extend(_bookkeeping(keys, tenant, queue, bucket, retention_s))
    return commands


def total_commands(
    keys: Keys, tenant: str, queue: str, found: Measures, retention_s: int
) -> list[Command]:
    """Measures as Redis commands that write totals from scratch (the rebuild's path)."""
    commands: list[Command] = []
    for bucket in sorted(found.buckets()):
        key = keys.analytics(tenant, queue, bucket)
        commands.append(("DEL", key, *(f"{key}:{m}" for m in SAMPLES)))
        counts = found.counts.get(bucket, {})
        if counts:
            flat = [part for name, amount in sorted(counts.items()) for part in (name, str(amount))]
            commands.append(("HSET", key, *flat))
        for metric, values in sorted(found.samples.get(bucket, {}).items()):
            for start in range(0, len(values), 500):
                chunk = values[start : start + 500]
                commands.append(("RPUSH", f"{key}:{metric}", *map(str, chunk)))
        commands.extend(_bookkeeping(keys, tenant, queue, bucket, retention_s))
    return commands


def _bookkeeping(
    keys: Keys, tenant: str, queue: str, bucket: int, retention_s: int
) -> list[Command]:
    """Index the bucket, and let it expire `retention_s` after it ended (by event time)."""
    key = keys.analytics(tenant, queue, bucket)
    expire_at = str(bucket + BUCKET_S + retention_s)
    return [
        ("ZADD", keys.analytics_index(tenant, queue), str(bucket), str(bucket)),
        ("EXPIREAT", key, expire_at),
        *(("EXPIREAT", f"{key}:{m}", expire_at) for m in SAMPLES),
    ]
