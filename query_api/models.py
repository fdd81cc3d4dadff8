"""The query side's answers, as the OpenAPI document describes them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class WaitEstimate(BaseModel):
    p10_seconds: int = Field(description="Seconds from now: called this soon one time in ten")
    p50_seconds: int = Field(description="Seconds from now: the median")
    p90_seconds: int = Field(description="Seconds from now: called before this nine times in ten")
    p10_at: str = Field(description="The same as moments (ISO 8601): they do not go stale")
    p50_at: str
    p90_at: str
    estimated_at: str = Field(description="When the range was computed (the queue's last event)")
    estimator: str = Field(description="Which estimator gave it: rules or learned")
    basis: str = Field(
        default="history",
        description="What it rests on: `history` (the queue's own services), or `few services "
        "yet` (a new queue: a wide range around a first guess that the next services correct)",
    )


class NewcomerWait(WaitEstimate):
    """The wait of one who joins now. Its seconds are those estimated at `estimated_at`, and its
    moments are from now: read again on a line where nothing happened since, it is the same
    wait, not one that ran down (a ticket's range is moments, and does)."""

    ahead: int = Field(description="People a newcomer would find ahead")


class PromisedWait(BaseModel):
    p10_seconds: int
    p50_seconds: int
    p90_seconds: int
    ahead: int = Field(description="People ahead when it joined")
    estimator: str
    basis: str = "history"


class TicketView(BaseModel):
    model_config = ConfigDict(extra="allow")

    ticket_id: str
    queue_id: str = Field(description="The queue that holds the ticket now (after transfers)")
    queue_name: str | None = Field(default=None, description="That queue's name")
    number: str
    status: str
    priority: str
    service_type: str | None = None
    channel: str | None = None
    language: str | None = None
    counter: str | None = None
    recall_count: int = 0
    enqueued_at: str | None = None
    called_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    transferred_to: str | None = None
    cancelled_by: str | None = Field(
        default=None,
        description="Once `cancelled`: who ended the place, `customer` (the person), `staff`, or "
        "`closing` (the queue closed and sent those still waiting home); more may be added",
    )
    return_until: str | None = Field(
        default=None,
        description="After a missed call (`no_show`): until when the person may still come back",
    )
    position: int | None = Field(
        default=None, description="1 = next to be called; null unless waiting"
    )
    people_ahead: int | None = None
    estimate: WaitEstimate | None = Field(
        default=None,
        description="While waiting: how long until the ticket is called, as a "
        "range (P10, P50, P90), recomputed as the line moves",
    )
    queue_status: str | None = Field(
        default=None,
        description="While waiting: the status of the queue that holds it (`paused`: nobody "
        "is called for now, and the range does not know for how long)",
    )
    estimate_at_enqueue: PromisedWait | None = Field(
        default=None,
        description="The range given when the ticket joined this queue (kept, "
        "to be measured against `waited_seconds`)",
    )
    waited_seconds: float | None = Field(
        default=None, description="Once called: the real wait from joining to the first call"
    )
    version: int = Field(description="The stream version of the queue this was read at")


class NowServing(BaseModel):
    counter: str
    ticket_id: str
    number: str
    status: str
    recall_count: int = Field(default=0, description="How many times the person was called again")


class NextUp(BaseModel):
    position: int
    ticket_id: str
    number: str
    priority: str


class OpeningHoursOut(BaseModel):
    weekday: int = Field(description="0 = Monday")
    opens: str = Field(description="HH:MM")
    closes: str = Field(description="HH:MM")


class QueueView(BaseModel):
    model_config = ConfigDict(extra="allow")

    queue_id: str
    version: int = Field(description="The stream version this view reflects")
    name: str
    prefix: str
    status: str
    counters: list[str]
    service_types: list[str]
    priority_classes: list[str]
    capacity: int | None = None
    site: str | None = Field(default=None, description="The location it belongs to (GET /v1/sites)")
    appointments: dict[str, int] | None = Field(
        default=None,
        description="Its bookable slots (slot_minutes, per_slot, lead_minutes, early_minutes, "
        "grace_minutes, horizon_days); null: walk-ins only",
    )
    target_wait_seconds: int | None = None
    timezone: str | None = Field(default=None, description="The queue's time zone (IANA)")
    opening_hours: list[OpeningHoursOut] | None = Field(
        default=None,
        description="Opening intervals per weekday (0 = Monday) in the queue's time zone; "
        "empty: open around the clock",
    )
    allow_outside_hours: bool | None = Field(
        default=None, description="Whether tickets are taken outside the opening hours"
    )
    default_priority: str | None = None
    aging_after_seconds: int | None = Field(
        default=None, description="A waiting ticket moves one class up after this long"
    )
    aging_max_priority: str | None = None
    no_show_grace_seconds: int | None = None
    transfer_policy: str | None = None
    busy_counter_policy: str | None = Field(
        default=None,
        description="A call at a busy counter: `refuse` (409 counter-busy) or `close_previous`",
    )
    mean_service_seconds: int | None = None
    waiting: int
    called: int
    serving: int
    waiting_by_priority: dict[str, int]
    totals: dict[str, int]
    now_serving: list[NowServing]
    breaks: list[CounterBreak] = Field(
        default_factory=list,
        description="Counters on a break or with one planned: when they go and when they are "
        "back (a break over by now may still be listed until the queue's next change)",
    )
    next: list[NextUp] = Field(description="The first few waiting tickets")
    estimate: NewcomerWait | None = Field(
        default=None,
        description="About how long one who joins now would wait (null when nobody waits)",
    )


class CounterBreak(BaseModel):
    counter: str
    starts_at: datetime
    ends_at: datetime = Field(description="When the counter is expected back")


class QueueList(BaseModel):
    queues: list[QueueView]


class WaitingPageOut(BaseModel):
    queue_id: str
    version: int
    total: int = Field(description="How many are waiting in all")
    offset: int
    limit: int
    tickets: list[TicketView]


class EstimatorAccuracy(BaseModel):
    estimator: str = Field(description="rules, learned, or served (what people were shown)")
    estimated: int = Field(description="Tickets given a range when they joined")
    called: int = Field(description="... and called since: the base of the figures below")
    cancelled: int
    transferred: int
    waiting: int
    mae_seconds: float | None = Field(description="Mean absolute error of P50 vs the real wait")
    within_20_percent: float | None = Field(
        description="Share of real waits within +/-20% of the P50 given at enqueue"
    )
    p10_p90_coverage: float | None = Field(
        description="Share of real waits inside P10..P90 (an honest range: about 0.8)"
    )
    over_twice_p50: float | None = Field(
        default=None,
        description="Share of real waits over twice the P50 given at enqueue (and over it by "
        "more than a minute): the promise 'nobody waits more than 200 % of what they were "
        "told', broken",
    )


class AccuracyOut(BaseModel):
    queue_id: str
    version: int = Field(description="The stream version these figures include")
    serving: str = Field(description="The estimator whose ranges the queue shows now")
    served_by: dict[str, int] = Field(description="Ranges shown at enqueue, by estimator")
    estimators: list[EstimatorAccuracy]
