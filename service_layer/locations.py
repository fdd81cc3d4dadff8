"""Where tickets are, as this process last wrote or read the ticket index: a hint that spares a
ticket command the index's round trip (start, complete, no-show, cancel name a ticket, not its
queue: 38-50 % of the benchmark's mix of a busy site).

A hint can be stale: another process may have moved the ticket since (a transfer, a line moved).
The queue it names then refuses the command, since every command on a ticket checks that the
ticket is there and in a status it acts on (a ticket moved away is "transferred"), and the queue
service asks the index again and follows the ticket (service_layer/queues.py `_execute`, as it
does when the ticket moves between a lookup and the decision). So a hint never makes a command
act on the wrong queue; at worst it costs the refusal's decision before the lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cachetools import LRUCache

from eventstore.values import StreamAppend

# Tickets remembered: the ones acted on soon after they joined, or after a first lookup. About
# 215 bytes each with the ticket id's string (tracemalloc): 11 MB when full.
LOCATIONS: Final = 50_000


class Locations:
    def __init__(self, size: int = LOCATIONS) -> None:
        self._where: LRUCache[str, tuple[str, str]] = LRUCache(size)  # ticket -> (tenant, queue)

    def get(self, ticket_id: str, tenant_id: str) -> str | None:
        """The queue that held the ticket when this process last saw it; None if it did not
        see it (or saw it in another tenant: the index answers that one)."""
        found = self._where.get(ticket_id)
        return found[1] if found is not None and found[0] == tenant_id else None

    def learned(self, ticket_id: str, where: tuple[str, str]) -> None:
        self._where[ticket_id] = where

    def written(self, appends: Sequence[StreamAppend]) -> None:
        """What appends this process made put in the index (the tickets each brought into its
        queue: joined, transferred in, booked)."""
        for append in appends:
            if append.tickets:
                where = (append.tenant_id, append.stream_id)
                for ticket_id in append.tickets:
                    self._where[ticket_id] = where
