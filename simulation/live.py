"""Live mode: the world's commands sent to the running product through its HTTP API.

The API must live on the scenario's day: start it with `VQ_CLOCK_START` a few minutes before the
scenario opens and `VQ_CLOCK_SPEED` (60 plays an hour in a minute). The driver reads the API's
clock once (`GET /v1/clock`) and sends each command when the API's time reaches the command's
time, so events are stamped as the world meant them; a command whose time has passed (the driver
or the API fell behind) goes at once, in order, and the lag is reported.

The world reacts to the events each command produced (which ticket a counter got). They are read
from the event store, the system of record, by the ids the API answered, and their ticket ids
translated back to the world's (the API chooses its own ids). A refusal (4xx) is no events.

`live_api` turns each command into its HTTP request and reads the API's problems;
`live_summary` holds what a run did and writes it out.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
import psycopg_pool
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from access.directory import TenantDirectory
from core.settings import Settings
from domain.commands import CreateQueue, EnqueueTicket, QueueCommand
from domain.events import QueueEvent
from domain.hours import zone
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from simulation import live_adopt
from simulation.live_api import (
    ATTEMPTS,
    REQUEST_TIMEOUT_S,
    RETRY_STATUSES,
    ApiClock,
    LiveError,
    Unanswered,
    backoff,
    problem,
    request_for,
    retry_after,
)
from simulation.live_options import LiveOptions, window
from simulation.live_summary import LiveResult, summary
from simulation.world import TimedCommand, World

__all__ = ["LiveError", "LiveOptions", "LiveResult", "run", "summary", "window"]

# Land a little late rather than early: the API judges opening hours by its own clock.
ALIGN_MARGIN_S = 0.005
READ_WAIT_S = 30.0  # the query API's longest read-your-writes wait
TAIL_MAX = timedelta(hours=3)  # finish_day: how long past the window the day's tail may run
ROLES = ("staff", "kiosk", "viewer")  # made with the admin key; customers act with the kiosk's
# The driver reads the API's events (and may make its tenant) in the API's own event store.
STORE_HINT = "give the driver the API's VQ_DATABASE_URL and VQ_DB_SCHEMA"


async def run(options: LiveOptions, settings: Settings, say: Callable[[str], None]) -> LiveResult:
    """Play the window through the API at `options.api`; `say` gets the progress lines."""
    try:
        pool = await open_pool(settings, min_size=1, max_size=2, wait=True)
    except psycopg_pool.PoolTimeout as exc:
        raise LiveError(f"no event store at {_where(settings)}: {STORE_HINT}") from exc
    try:
        async with httpx.AsyncClient(base_url=options.api, timeout=REQUEST_TIMEOUT_S) as http:
            return await _Driver(options, settings, http, PostgresEventStore(pool), say).run()
    except httpx.InvalidURL as exc:
        raise LiveError(f"bad --api URL {options.api!r}: {exc}") from exc
    except psycopg.Error as exc:  # e.g. no events table: another database or schema
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LiveError(f"the event store at {_where(settings)}: {first}: {STORE_HINT}") from exc
    finally:
        await pool.close()


class _Driver:
    def __init__(
        self,
        options: LiveOptions,
        settings: Settings,
        http: httpx.AsyncClient,
        store: PostgresEventStore,
        say: Callable[[str], None],
    ) -> None:
        self.options, self.settings, self.http, self.store = options, settings, http, store
        self.say = say
        self.scenario, begins, ends = window(options.scenario, options.hours, options.start_minute)
        self.result = LiveResult(
            scenario=self.scenario.name,
            seed=options.seed,
            api=options.api,
            timezone=self.scenario.timezone,
            simulated_from=begins,
            simulated_to=ends,
        )
        self.keys: dict[str, str] = {}
        self.api_ids: dict[str, str] = {}  # world ticket id -> API ticket id
        self.world_ids: dict[str, str] = {}
        self.next_progress = 0.0

    async def run(self) -> LiveResult:
        started = time.monotonic()
        clock = await self._clock()
        await self._credentials()
        days = math.ceil(self.options.hours / 24) + 1
        world = World(
            self.scenario,
            days=days,
            seed=self.options.seed,
            queue_id=f"sim-{self.scenario.name}",
            tenant_id=self.result.tenant_id,
            id_prefix="",
        )
        stream = world.run()
        try:
            timed = next(stream)
            while self._plays(world, timed):
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

    def _plays(self, world: World, timed: TimedCommand) -> bool:
        """Whether `timed` is sent: within the window; with finish_day, also the close and the
        day's tail (the staff finish the services under way and serve out the line, as the
        world's shifts say) until nobody waits or is served, for TAIL_MAX at most."""
        ends = self.result.simulated_to
        if timed.at < ends:
            return True
        return self.options.finish_day and timed.at < ends + TAIL_MAX and world.tail(timed)

    # Time -------------------------------------------------------------------------------------

    async def _clock(self) -> ApiClock:
        sent = time.monotonic()
        response = await self._call("GET", "/v1/clock", attempts=3)  # no API: say so at once
        if response.status_code != 200:
            raise LiveError(
                f"GET /v1/clock answered {response.status_code}: is {self.options.api} "
                "a virtual-queue API (with an accelerated clock)?"
            )
        body = response.json()
        clock = ApiClock(
            datetime.fromisoformat(body["now"]), float(body["speed"]), (sent + time.monotonic()) / 2
        )
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
                f"the API with VQ_CLOCK_START={earlier} VQ_CLOCK_SPEED=60 (or pass a later --from)"
            )
        if now > begins:
            self.say(
                f"the API's clock is {(now - begins).total_seconds() / 60:.0f} min past the "
                "window's start: the first commands go at once"
            )
        elif clock.wall_until(begins) > self.options.progress_every_s:
            self.say(
                f"waiting {clock.wall_until(begins):.0f} s for the API's clock to reach "
                f"{begins.astimezone(tz):%H:%M} (speed {clock.speed:g}x)"
            )
        return clock

    async def _wait_until(self, clock: ApiClock, at: datetime, waiting: int) -> None:
        while (remaining := clock.wall_until(at)) > 0:
            self._progress(clock.now(), waiting)
            await asyncio.sleep(min(remaining + ALIGN_MARGIN_S, self.options.progress_every_s))
        self._progress(at, waiting)

    def _progress(self, now: datetime, waiting: int) -> None:
        if time.monotonic() < self.next_progress:
            return
        self.next_progress = time.monotonic() + self.options.progress_every_s
        local = now.astimezone(zone(self.scenario.timezone))
        self.say(
            f"{local:%H:%M:%S}  sent {sum(self.result.sent.values())}  refused "
            f"{sum(self.result.refused.values())}  waiting {waiting}"
        )

    # Credentials ------------------------------------------------------------------------------

    async def _credentials(self) -> None:
        """An admin key (given, or a new tenant's) and keys for staff, kiosk and board."""
        admin = self.options.key or await self._new_tenant()
        self.keys["admin"] = admin
        if self.options.role_keys is not None:  # the caller's own: no new keys each run
            self.keys |= {role: self.options.role_keys[role] for role in ROLES}
            listed = await self._call("GET", "/v1/keys", admin)
            if listed.status_code == 200 and listed.json():
                self.result.tenant_id = listed.json()[0]["tenant_id"]
                return
        for role in ROLES:
            made = await self._call(
                "POST", "/v1/keys", admin, json={"name": f"simulator {role}", "role": role}
            )
            if made.status_code != 201:
                hint = (
                    "--key must be a tenant's admin key"
                    if self.options.key
                    else f"the API does not know the tenant made in the event store: {STORE_HINT}"
                )
                raise LiveError(
                    f"could not make a {role} key ({made.status_code} {problem(made)}): {hint}"
                )
            self.keys[role] = made.json()["secret"]
            self.result.tenant_id = made.json()["tenant_id"]

    async def _new_tenant(self) -> str:
        """A tenant of its own, made in the event store as `vq run` makes the demo's."""
        name = f"Simulation: {self.scenario.name} (seed {self.options.seed})"
        _, issued = await TenantDirectory(self.store).create_tenant(name)
        return issued.secret

    # Commands ---------------------------------------------------------------------------------

    async def _execute(self, command: QueueCommand) -> list[QueueEvent]:
        if isinstance(command, CreateQueue) and await self._adopted(command):
            return []
        request = request_for(command, self.result.queue_id, self.api_ids)
        key = str(uuid.uuid4())  # the same on every retry: the API applies the command once
        response = await self._call(
            "POST",
            request.path,
            self.keys[request.role],
            json=request.body,
            headers={"Idempotency-Key": key},
        )
        self.result.sent[request.kind] += 1
        if response.status_code in (401, 403):
            raise LiveError(f"{request.kind}: {response.status_code} {problem(response)}")
        if response.status_code >= 400:
            self.result.refused[problem(response)] += 1
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
            self.result.queue_id, version - len(answer["event_types"]), version
        )
        ids = set(answer["event_ids"])
        events = [self._to_world(r.event) for r in records if r.event_id in ids]
        if len(events) != len(answer["event_types"]):
            raise LiveError(
                f"the event store at {_where(self.settings)} does not hold the "
                f"API's events: {STORE_HINT}"
            )
        return events

    async def _adopted(self, command: CreateQueue) -> bool:
        """Whether the day is played on `options.queue_id`: its earlier day ended first."""
        if self.options.queue_id is None:
            return False
        queue_id, tenant_id = self.options.queue_id, self.result.tenant_id
        state = await live_adopt.queue_state(self.store, tenant_id, queue_id)
        if state is None or not live_adopt.fits(state, command.config):
            return False
        ended = await live_adopt.end_earlier_day(state, self._call, self.keys["staff"])
        if ended:
            self.say(f"the queue's earlier day ended: {ended}")
        self.result.stream_version = state.version
        self._created(state.queue_id, "played again")
        return True

    def _created(self, queue_id: str, how: str = "created") -> None:
        self.result.queue_id = queue_id
        self.result.board = f"{self.options.api}/board/{queue_id}#key={self.keys['viewer']}"
        self.say(f"queue {queue_id} {how}; watch it live: {self.result.board}")

    def _to_world(self, event: QueueEvent) -> QueueEvent:
        world_id = self.world_ids.get(getattr(event, "ticket_id", ""))
        if world_id is None:
            return event
        return replace(event, ticket_id=world_id)  # type: ignore[arg-type]  # has a ticket_id

    # HTTP -------------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        key: str | None = None,
        *,
        attempts: int = ATTEMPTS,
        **kwargs: Any,
    ) -> httpx.Response:
        """One request, retried while the API is unavailable or overloaded (503/429) or silent:
        after 0.2 s, doubling to 5 s, or after the answer's Retry-After if that is longer."""
        headers = kwargs.pop("headers", {})
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"

        def counted(_: RetryCallState) -> None:
            self.result.retries += 1

        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(Unanswered),
                stop=stop_after_attempt(attempts),
                wait=backoff,
                before_sleep=counted,
                reraise=True,
            ):
                with attempt:
                    try:
                        response = await self.http.request(method, path, headers=headers, **kwargs)
                    except httpx.TransportError as exc:
                        raise Unanswered(f"{type(exc).__name__}: {exc}", 0.0) from exc
                    if response.status_code in RETRY_STATUSES:
                        failure = f"{response.status_code} {problem(response)}"
                        raise Unanswered(failure, retry_after(response))
                    return response
        except Unanswered as last:
            raise LiveError(
                f"{method} {self.options.api}{path}: no success after {attempts} attempts ({last})"
            ) from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _read_side(self) -> None:
        """Wait until the read models hold the last write, then ask for the accuracy figures."""
        queue, admin = f"/v1/queues/{self.result.queue_id}", self.keys["admin"]
        caught = await self._call(
            "GET",
            queue,
            admin,
            timeout=READ_WAIT_S + REQUEST_TIMEOUT_S,
            params={"min_version": self.result.stream_version, "wait": READ_WAIT_S},
        )
        self.result.read_side_caught_up = caught.status_code == 200
        if not self.result.read_side_caught_up:
            self.say(
                f"the read models did not reach version {self.result.stream_version} "
                f"within {READ_WAIT_S:.0f} s ({caught.status_code} {problem(caught)})"
            )
            return
        accuracy = await self._call("GET", f"{queue}/accuracy", admin)
        self.result.accuracy_status = accuracy.status_code
        if accuracy.status_code == 200:
            self.result.accuracy = accuracy.json()


def _where(settings: Settings) -> str:
    """The event store's address without its password."""
    host = settings.pg_url.rsplit("@", 1)[-1]
    return f"{host} (schema {settings.db_schema})"
