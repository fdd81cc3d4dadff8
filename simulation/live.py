"""Live mode: the world's commands sent to the running product through its HTTP API.

The API must live on the scenario's day: start it with `VQ_CLOCK_START` a few minutes before the
scenario opens and `VQ_CLOCK_SPEED` (60 plays an hour in a minute). The driver reads the API's
clock once (`GET /v1/clock`) and sends each command when the API's time reaches the command's
time, so events are stamped as the world meant them; a command whose time has passed (the driver
or the API fell behind) goes at once, in order, and the lag is reported.

The world reacts to the events each command produced (which ticket a counter got). They are read
from the event store, the system of record, by the ids the API answered, and their ticket ids
translated back to the world's (the API chooses its own ids). A refusal (4xx) is no events.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
import psycopg_pool

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
    StartService,
)
from domain.events import QueueEvent
from domain.hours import zone
from eventstore.pool import open_pool
from eventstore.store import EventStore
from eventstore.tenants import TenantDirectory
from simulation.scenario import Scenario, day_plans, epoch
from simulation.world import World
from vq.settings import Settings

ATTEMPTS = 10  # per request, on 503/429 or no answer (~30 s of backoff in all)
RETRY_STATUSES = frozenset({429, 503})
REQUEST_TIMEOUT_S = 15.0  # the API answers or gives up within 10 s
# Land a little late rather than early: the API judges opening hours by its own clock.
ALIGN_MARGIN_S = 0.005
READ_WAIT_S = 30.0  # the query API's longest read-your-writes wait
ROLES = ("staff", "kiosk", "viewer")  # made with the admin key; customers act with the kiosk's
# The driver reads the API's events (and may make its tenant) in the API's own event store.
STORE_HINT = "give the driver the API's VQ_DATABASE_URL and VQ_DB_SCHEMA"


class LiveError(Exception):
    """The run cannot go on (API unreachable, key refused, clock past the window): one line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveOptions:
    api: str
    scenario: Scenario
    hours: float = 1.0
    start_minute: int | None = None  # of the local day; None: the scenario's opening
    seed: int = 1
    key: str | None = None  # an admin key of an existing tenant; None: a new tenant
    progress_every_s: float = 5.0

    def __post_init__(self) -> None:
        s = self.scenario
        if not self.hours > 0:
            raise ValueError("--hours must be > 0")
        if self.start_minute is not None and not s.opens <= self.start_minute < s.closes:
            raise ValueError(f"--from must fall within {s.name}'s opening hours "
                             f"({s.opens // 60:02d}:{s.opens % 60:02d} to "
                             f"{s.closes // 60:02d}:{s.closes % 60:02d})")


@dataclass(slots=True, kw_only=True)
class LiveResult:
    scenario: str
    seed: int
    api: str
    timezone: str  # the scenario's, for the times shown
    tenant_id: str = ""
    queue_id: str = ""
    board: str = ""
    simulated_from: datetime
    simulated_to: datetime
    speed: float = 1.0
    wall_seconds: float = 0.0
    sent: Counter[str] = field(default_factory=Counter)  # by kind of command
    refused: Counter[str] = field(default_factory=Counter)  # by problem type
    retries: int = 0
    max_lag_seconds: float = 0.0  # simulated seconds a command went after its time
    waiting: int = 0  # the world's line when the window ended
    stream_version: int = 0
    read_side_caught_up: bool = False
    accuracy_status: int | None = None
    accuracy: Any = None

    def as_json(self) -> dict[str, Any]:
        found = {f.name: getattr(self, f.name) for f in fields(self)}  # asdict mangles Counters
        found.update(
            simulated_from=self.simulated_from.isoformat(),
            simulated_to=self.simulated_to.isoformat(),
            sent=dict(self.sent),
            refused=dict(self.refused),
            commands=sum(self.sent.values()),
            refusals=sum(self.refused.values()),
        )
        return found


class _ApiClock:
    """The API's clock seen from here: read once, then extrapolated at its speed."""

    def __init__(self, now: datetime, speed: float, read_at: float) -> None:
        self.speed = speed
        self._now, self._read_at = now, read_at

    def now(self) -> datetime:
        return self._now + timedelta(seconds=(time.monotonic() - self._read_at) * self.speed)

    def wall_until(self, at: datetime) -> float:
        return (at - self.now()).total_seconds() / self.speed


@dataclass(frozen=True, slots=True)
class _Request:
    kind: str
    path: str
    role: str  # whose key sends it
    body: dict[str, Any] | None = None


def window(
    scenario: Scenario, hours: float, start_minute: int | None
) -> tuple[Scenario, datetime, datetime]:
    """The scenario as played and the simulated window.

    From `start_minute` the days begin later: the queue opens then, empty, and the staff whose
    shift is on at that time start then (the world opens the queue before anyone's shift).
    """
    if start_minute is not None:
        counters = tuple(
            replace(c, shifts=tuple((max(a, start_minute), b) for a, b in c.shifts
                                    if b > start_minute))
            for c in scenario.counters
        )
        scenario = replace(scenario, opens=start_minute, counters=counters)
    begins = epoch(scenario) + timedelta(seconds=day_plans(scenario, 1)[0].opens)
    return scenario, begins, begins + timedelta(hours=hours)


async def run(options: LiveOptions, settings: Settings, say: Callable[[str], None]) -> LiveResult:
    """Play the window through the API at `options.api`; `say` gets the progress lines."""
    try:
        pool = await open_pool(settings, min_size=1, max_size=2, wait=True)
    except psycopg_pool.PoolTimeout as exc:
        raise LiveError(f"no event store at {_where(settings)}: {STORE_HINT}") from exc
    try:
        async with httpx.AsyncClient(base_url=options.api, timeout=REQUEST_TIMEOUT_S) as http:
            return await _Driver(options, settings, http, EventStore(pool), say).run()
    except httpx.InvalidURL as exc:
        raise LiveError(f"bad --api URL {options.api!r}: {exc}") from exc
    except psycopg.Error as exc:  # e.g. no events table: another database or schema
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LiveError(f"the event store at {_where(settings)}: {first}: {STORE_HINT}") from exc
    finally:
        await pool.close()


class _Driver:
    def __init__(self, options: LiveOptions, settings: Settings, http: httpx.AsyncClient,
                 store: EventStore, say: Callable[[str], None]) -> None:
        self.options, self.settings, self.http, self.store = options, settings, http, store
        self.say = say
        self.scenario, begins, ends = window(options.scenario, options.hours, options.start_minute)
        self.result = LiveResult(scenario=self.scenario.name, seed=options.seed, api=options.api,
                                 timezone=self.scenario.timezone, simulated_from=begins,
                                 simulated_to=ends)
        self.keys: dict[str, str] = {}
        self.api_ids: dict[str, str] = {}  # world ticket id -> API ticket id
        self.world_ids: dict[str, str] = {}
        self.next_progress = 0.0

    async def run(self) -> LiveResult:
        started = time.monotonic()
        clock = await self._clock()
        await self._credentials()
        days = math.ceil(self.options.hours / 24) + 1
        world = World(self.scenario, days=days, seed=self.options.seed,
                      queue_id=f"sim-{self.scenario.name}", tenant_id=self.result.tenant_id,
                      id_prefix="")
        stream = world.run()
        try:
            timed = next(stream)
            while timed.at < self.result.simulated_to:
                await self._wait_until(clock, timed.at, len(world.waiting))
                lag = (clock.now() - timed.at).total_seconds()
                self.result.max_lag_seconds = max(self.result.max_lag_seconds, lag)
                timed = stream.send(await self._execute(timed.command))
        except StopIteration:
            pass
        finally:
            stream.close()
        self.result.waiting = len(world.waiting)
        self.result.wall_seconds = time.monotonic() - started
        if self.result.queue_id:
            await self._read_side()
        return self.result

    # Time -------------------------------------------------------------------------------------

    async def _clock(self) -> _ApiClock:
        sent = time.monotonic()
        response = await self._call("GET", "/v1/clock", attempts=3)  # no API: say so at once
        if response.status_code != 200:
            raise LiveError(f"GET /v1/clock answered {response.status_code}: is {self.options.api} "
                            "a virtual-queue API (with an accelerated clock)?")
        body = response.json()
        clock = _ApiClock(datetime.fromisoformat(body["now"]), float(body["speed"]),
                          (sent + time.monotonic()) / 2)
        self.result.speed = clock.speed
        tz = zone(self.scenario.timezone)
        begins, ends = self.result.simulated_from, self.result.simulated_to
        now = clock.now()
        if now >= ends:
            earlier = (begins - timedelta(minutes=5)).astimezone(tz).isoformat()
            raise LiveError(
                f"the API's clock reads {now.astimezone(tz):%Y-%m-%d %H:%M} "
                f"({self.scenario.timezone}), past the simulated window "
                f"({begins.astimezone(tz):%Y-%m-%d %H:%M} to {ends.astimezone(tz):%H:%M}): start "
                f"the API with VQ_CLOCK_START={earlier} VQ_CLOCK_SPEED=60 (or pass a later --from)")
        if now > begins:
            self.say(f"the API's clock is {(now - begins).total_seconds() / 60:.0f} min past the "
                     "window's start: the first commands go at once")
        elif clock.wall_until(begins) > self.options.progress_every_s:
            self.say(f"waiting {clock.wall_until(begins):.0f} s for the API's clock to reach "
                     f"{begins.astimezone(tz):%H:%M} (speed {clock.speed:g}x)")
        return clock

    async def _wait_until(self, clock: _ApiClock, at: datetime, waiting: int) -> None:
        while (remaining := clock.wall_until(at)) > 0:
            self._progress(clock.now(), waiting)
            await asyncio.sleep(min(remaining + ALIGN_MARGIN_S, self.options.progress_every_s))
        self._progress(at, waiting)

    def _progress(self, now: datetime, waiting: int) -> None:
        if time.monotonic() < self.next_progress:
            return
        self.next_progress = time.monotonic() + self.options.progress_every_s
        local = now.astimezone(zone(self.scenario.timezone))
        self.say(f"{local:%H:%M:%S}  sent {sum(self.result.sent.values())}  refused "
                 f"{sum(self.result.refused.values())}  waiting {waiting}")

    # Credentials ------------------------------------------------------------------------------

    async def _credentials(self) -> None:
        """An admin key (given, or a new tenant's) and keys for staff, kiosk and board."""
        admin = self.options.key or await self._new_tenant()
        self.keys["admin"] = admin
        for role in ROLES:
            made = await self._call("POST", "/v1/keys", admin,
                                    json={"name": f"simulator {role}", "role": role})
            if made.status_code != 201:
                hint = ("--key must be a tenant's admin key" if self.options.key else
                        f"the API does not know the tenant made in the event store: {STORE_HINT}")
                raise LiveError(f"could not make a {role} key ({made.status_code} "
                                f"{_problem(made)}): {hint}")
            self.keys[role] = made.json()["secret"]
            self.result.tenant_id = made.json()["tenant_id"]

    async def _new_tenant(self) -> str:
        """A tenant of its own, made in the event store as `vq run` makes the demo's."""
        name = f"Simulation: {self.scenario.name} (seed {self.options.seed})"
        _, issued = await TenantDirectory(self.store).create_tenant(name)
        return issued.secret

    # Commands ---------------------------------------------------------------------------------

    async def _execute(self, command: QueueCommand) -> list[QueueEvent]:
        request = self._request(command)
        key = str(uuid.uuid4())  # the same on every retry: the API applies the command once
        response = await self._call("POST", request.path, self.keys[request.role],
                                    json=request.body, headers={"Idempotency-Key": key})
        self.result.sent[request.kind] += 1
        if response.status_code in (401, 403):
            raise LiveError(f"{request.kind}: {response.status_code} {_problem(response)}")
        if response.status_code >= 400:
            self.result.refused[_problem(response)] += 1
            return []
        answer = response.json()
        if isinstance(command, CreateQueue):
            self._created(answer["queue_id"])
        elif isinstance(command, EnqueueTicket):
            self.api_ids[command.ticket_id] = answer["ticket"]["ticket_id"]
            self.world_ids[answer["ticket"]["ticket_id"]] = command.ticket_id
        version = int(answer["stream_version"])
        self.result.stream_version = max(self.result.stream_version, version)
        # The command's own events are the last ones up to the version it answered.
        records = await self.store.read_stream(
            self.result.queue_id, version - len(answer["event_types"]), version)
        ids = set(answer["event_ids"])
        events = [self._to_world(r.event) for r in records if r.event_id in ids]
        if len(events) != len(answer["event_types"]):
            raise LiveError(f"the event store at {_where(self.settings)} does not hold the "
                            f"API's events: {STORE_HINT}")
        return events

    def _created(self, queue_id: str) -> None:
        self.result.queue_id = queue_id
        self.result.board = (f"{self.options.api}/board/{queue_id}"
                             f"?access_token={self.keys['viewer']}")
        self.say(f"queue {queue_id} created; watch it live: {self.result.board}")

    def _to_world(self, event: QueueEvent) -> QueueEvent:
        world_id = self.world_ids.get(getattr(event, "ticket_id", ""))
        if world_id is None:
            return event
        return replace(event, ticket_id=world_id)  # type: ignore[arg-type]  # has a ticket_id

    def _request(self, command: QueueCommand) -> _Request:
        """The HTTP call that gives `command` (only what the world gives is mapped)."""
        queue = f"/v1/queues/{self.result.queue_id}"
        match command:
            case CreateQueue(config=config, status=status):
                return _Request("create-queue", "/v1/queues", "admin",
                                {**asdict(config), "status": status})
            case OpenQueue():
                return _Request("open", f"{queue}/open", "staff")
            case CloseQueue(reason=reason):
                return _Request("close", f"{queue}/close", "staff", {"reason": reason})
            case EnqueueTicket(priority=priority, service_type=service_type, channel=channel):
                return _Request("enqueue", f"{queue}/tickets", "kiosk", {
                    "priority": priority, "service_type": service_type, "channel": channel})
            case CallNext(counter=counter):
                return _Request("call-next", f"{queue}/call-next", "staff", {"counter": counter})
            case CancelTicket(ticket_id=ticket_id, by=by, reason=reason):
                role = "kiosk" if by == "customer" else "staff"  # the API tells them by the key
                return self._on_ticket("cancel", ticket_id, role, {"reason": reason})
            case StartService(ticket_id=ticket_id):
                return self._on_ticket("start", ticket_id)
            case CompleteService(ticket_id=ticket_id):
                return self._on_ticket("complete", ticket_id)
            case RecallTicket(ticket_id=ticket_id):
                return self._on_ticket("recall", ticket_id)
            case MarkNoShow(ticket_id=ticket_id):
                return self._on_ticket("no-show", ticket_id)
            case ReturnTicket(ticket_id=ticket_id):
                return self._on_ticket("return", ticket_id)
        raise LiveError(f"the live driver has no HTTP call for {type(command).__name__}")

    def _on_ticket(self, kind: str, world_id: str, role: str = "staff",
                   body: dict[str, Any] | None = None) -> _Request:
        api_id = self.api_ids.get(world_id)
        if api_id is None:
            raise LiveError(f"the world named ticket {world_id}, which the API never issued")
        return _Request(kind, f"/v1/tickets/{api_id}/{kind}", role, body)

    # HTTP -------------------------------------------------------------------------------------

    async def _call(self, method: str, path: str, key: str | None = None, *,
                    attempts: int = ATTEMPTS, **kwargs: Any) -> httpx.Response:
        """One request, retried while the API is unavailable or overloaded (503/429) or silent."""
        headers = kwargs.pop("headers", {})
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        failure, delay = "", 0.0
        for attempt in range(attempts):
            if attempt:
                self.result.retries += 1
                await asyncio.sleep(delay)
            delay = min(0.2 * 2**attempt, 5.0)
            try:
                response = await self.http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                failure = f"{response.status_code} {_problem(response)}"
                delay = max(delay, _retry_after(response))
        raise LiveError(f"{method} {self.options.api}{path}: no success after {attempts} "
                        f"attempts ({failure})")

    async def _read_side(self) -> None:
        """Wait until the read models hold the last write, then ask for the accuracy figures."""
        queue, admin = f"/v1/queues/{self.result.queue_id}", self.keys["admin"]
        caught = await self._call(
            "GET", queue, admin, timeout=READ_WAIT_S + REQUEST_TIMEOUT_S,
            params={"min_version": self.result.stream_version, "wait": READ_WAIT_S})
        self.result.read_side_caught_up = caught.status_code == 200
        if not self.result.read_side_caught_up:
            self.say(f"the read models did not reach version {self.result.stream_version} "
                     f"within {READ_WAIT_S:.0f} s ({caught.status_code} {_problem(caught)})")
            return
        accuracy = await self._call("GET", f"{queue}/accuracy", admin)
        self.result.accuracy_status = accuracy.status_code
        if accuracy.status_code == 200:
            self.result.accuracy = accuracy.json()


def _problem(response: httpx.Response) -> str:
    """The problem type's code (`queue-empty`), or the status when the body is no problem."""
    try:
        found = response.json().get("type", "")
    except ValueError:
        found = ""
    return str(found).rsplit("/", 1)[-1] or f"http-{response.status_code}"


def _where(settings: Settings) -> str:
    """The event store's address without its password."""
    host = settings.pg_url.rsplit("@", 1)[-1]
    return f"{host} (schema {settings.db_schema})"


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(float(response.headers.get("Retry-After", "0")), 30.0)
    except ValueError:
        return 0.0


def summary(result: LiveResult) -> str:
    """The end of a run as text: where to look, what was sent, what the estimators scored."""
    tz = zone(result.timezone)
    kinds = ", ".join(f"{k} {n}" for k, n in result.sent.most_common())
    refused = ", ".join(f"{k} {n}" for k, n in result.refused.most_common()) or "none"
    lines = [
        f"live simulation of {result.scenario} (seed {result.seed}) through {result.api}",
        f"  simulated   {result.simulated_from.astimezone(tz):%Y-%m-%d %H:%M} to "
        f"{result.simulated_to.astimezone(tz):%H:%M} {result.timezone} in "
        f"{result.wall_seconds:.0f} s (API clock {result.speed:g}x); commands went at most "
        f"{result.max_lag_seconds:.1f} simulated s late",
        f"  tenant      {result.tenant_id}",
        f"  queue       {result.queue_id} (stream version {result.stream_version})",
        f"  board       {result.board}",
        f"  commands    {sum(result.sent.values())} sent ({kinds})",
        f"  refused     {sum(result.refused.values())} ({refused}); {result.retries} retries",
        f"  waiting     {result.waiting} at the end",
    ]
    if not result.read_side_caught_up:
        lines.append("  accuracy    - (the read models did not catch up)")
    elif result.accuracy_status != 200:
        lines.append(f"  accuracy    - (GET /v1/queues/{{id}}/accuracy answered "
                     f"{result.accuracy_status})")
    else:
        lines += _accuracy_table(result.accuracy)
    return "\n".join(lines)


def _accuracy_table(accuracy: dict[str, Any]) -> list[str]:
    """`GET /v1/queues/{id}/accuracy`, per estimator; the figures count called tickets only."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    indent = " " * 14
    rows = [f"  accuracy    serving {accuracy['serving']} (figures at version "
            f"{accuracy['version']})",
            f"{indent}{'estimator':<10} {'estimated':>9} {'called':>6} {'MAE s':>6} "
            f"{'within 20%':>10} {'P10..P90':>8}"]
    for e in accuracy["estimators"]:
        mae = "-" if e["mae_seconds"] is None else f"{e['mae_seconds']:.0f}"
        rows.append(f"{indent}{e['estimator']:<10} {e['estimated']:>9} {e['called']:>6} "
                    f"{mae:>6} {pct(e['within_20_percent']):>10} "
                    f"{pct(e['p10_p90_coverage']):>8}")
    return rows
