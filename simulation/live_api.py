"""The product's HTTP API as the live driver sees it: each command as a request, the problems
it answers with, and how long it asks to be left alone."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from tenacity import RetryCallState

from domain.commands import (
    CallNext,
    CancelTicket,
    CloseQueue,
    CompleteService,
    CreateQueue,
    EnqueueTicket,
    MarkNoShow,
    OpenQueue,
    QueueCommand,
    RecallTicket,
    ReturnTicket,
    SetCounterBreak,
    StartService,
)

ATTEMPTS = 10  # per request, on 503/429 or no answer (~30 s of backoff in all)
RETRY_STATUSES = frozenset({429, 503})
REQUEST_TIMEOUT_S = 15.0  # the API answers or gives up within 10 s


class LiveError(Exception):
    """The run cannot go on (API unreachable, key refused, clock past the window): one line."""


@dataclass(frozen=True, slots=True)
class Request:
    kind: str
    path: str
    role: str  # whose key sends it
    body: dict[str, Any] | None = None


def request_for(command: QueueCommand, queue_id: str, api_ids: Mapping[str, str]) -> Request:
    """The HTTP call that gives `command` (only what the world gives is mapped); `api_ids`: the
    world's ticket ids -> the API's."""
    queue = f"/v1/queues/{queue_id}"
    match command:
        case CreateQueue(config=config, status=status):
            body = {**asdict(config), "status": status}
            if not config.mean_service_seconds:  # not set: the API's default (none) applies
                del body["mean_service_seconds"]
            return Request("create-queue", "/v1/queues", "admin", body)
        case OpenQueue():
            return Request("open", f"{queue}/open", "staff")
        case CloseQueue(reason=reason):
            return Request("close", f"{queue}/close", "staff", {"reason": reason})
        case EnqueueTicket(priority=priority, service_type=service_type, channel=channel):
            return Request(
                "enqueue",
                f"{queue}/tickets",
                "kiosk",
                {"priority": priority, "service_type": service_type, "channel": channel},
            )
        case CallNext(counter=counter):
            return Request("call-next", f"{queue}/call-next", "staff", {"counter": counter})
        case SetCounterBreak(
            counter=counter, ends_at=ends_at, minutes=minutes, starts_at=at, starts_in=starts_in
        ):
            said = {
                "counter": counter,
                "minutes": minutes,
                "ends_at": None if ends_at is None else ends_at.isoformat(),
                "starts_at": None if at is None else at.isoformat(),
                "starts_in_minutes": starts_in,
            }
            return Request(
                "break",
                f"{queue}/breaks",
                "staff",
                {k: v for k, v in said.items() if v is not None},
            )
        case CancelTicket(ticket_id=ticket_id, by=by, reason=reason):
            role = "kiosk" if by == "customer" else "staff"  # the API tells them by the key
            return _on_ticket(api_ids, "cancel", ticket_id, role, {"reason": reason})
        case StartService(ticket_id=ticket_id):
            return _on_ticket(api_ids, "start", ticket_id)
        case CompleteService(ticket_id=ticket_id):
            return _on_ticket(api_ids, "complete", ticket_id)
        case RecallTicket(ticket_id=ticket_id):
            return _on_ticket(api_ids, "recall", ticket_id)
        case MarkNoShow(ticket_id=ticket_id):
            return _on_ticket(api_ids, "no-show", ticket_id)
        case ReturnTicket(ticket_id=ticket_id):
            return _on_ticket(api_ids, "return", ticket_id)
    raise LiveError(f"the live driver has no HTTP call for {type(command).__name__}")


def _on_ticket(
    api_ids: Mapping[str, str],
    kind: str,
    world_id: str,
    role: str = "staff",
    body: dict[str, Any] | None = None,
) -> Request:
    api_id = api_ids.get(world_id)
    if api_id is None:
        raise LiveError(f"the world named ticket {world_id}, which the API never issued")
    return Request(kind, f"/v1/tickets/{api_id}/{kind}", role, body)


def problem(response: httpx.Response) -> str:
    """The problem type's code (`queue-empty`), or the status when the body is no problem."""
    try:
        found = response.json().get("type", "")
    except ValueError:
        found = ""
    return str(found).rsplit("/", 1)[-1] or f"http-{response.status_code}"


def retry_after(response: httpx.Response) -> float:
    try:
        return min(float(response.headers.get("Retry-After", "0")), 30.0)
    except ValueError:
        return 0.0


class Unanswered(Exception):
    """A request to retry: no answer, or a 503/429 (with how long it asked us to wait)."""

    def __init__(self, failure: str, retry_after_s: float) -> None:
        super().__init__(failure)
        self.retry_after_s = retry_after_s


def backoff(state: RetryCallState) -> float:
    """After 0.2 s, doubling to 5 s, or after the answer's Retry-After if that is longer."""
    exponential = min(0.2 * 2 ** (state.attempt_number - 1), 5.0)
    failed = state.outcome.exception() if state.outcome is not None else None
    asked = failed.retry_after_s if isinstance(failed, Unanswered) else 0.0
    return float(max(exponential, asked))


class ApiClock:
    """The API's clock seen from here: read once, then extrapolated at its speed."""

    def __init__(self, now: datetime, speed: float, read_at: float) -> None:
        self.speed = speed
        self._now, self._read_at = now, read_at

    def now(self) -> datetime:
        return self._now + timedelta(seconds=(time.monotonic() - self._read_at) * self.speed)

    def wall_until(self, at: datetime) -> float:
        return (at - self.now()).total_seconds() / self.speed
