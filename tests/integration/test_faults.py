"""Faults under load: the product run as separate processes on a private stack (API, relay,
worker, each started again 3 s after it dies, as the systemd units do), mixed traffic over HTTP
with retries under one Idempotency-Key, and SIGKILL in turn of the worker, the relay, the API,
Kafka, Redis and PostgreSQL (the servers started again with `vq stack up`, as an operator would).

Then: every acknowledged event is in the store (under the version and ids it was acknowledged
with); every stored event reached Kafka in per-queue order (a version sent again after a relay
crash is allowed, as eventstore/relay.py documents: the same event id, and consumers skip what
they applied); the read models come back whole, a quiet queue's too (its last command comes just
before Redis dies, none after) and `vq projections check` finds 0 differences; no 5xx but 503 was
ever answered, and no request hung. Each fault's unavailability window is printed.
`VQ_FAULTS_KEEP=1` keeps the data folder and the processes' logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest

from core.settings import Settings
from eventstore.migrate import migrate
from tests.integration.faults_load import (
    ATTEMPT_TIMEOUT_S,
    HANG,
    HEADER,
    Traffic,
    Window,
    check_topic,
    read_topic,
    read_versions,
    wait_caught_up,
)
from tests.integration.faults_stack import (
    Exit,
    Product,
    kill_server,
    make_root,
    missing_tools,
    private_settings,
    product_env,
    start_servers,
    stop_servers,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(missing_tools()), reason=f"needs {', '.join(missing_tools())}"),
]

FAULTS = ("worker", "relay", "api", "kafka", "redis", "postgresql")
RATE = 25.0  # commands per second
QUEUES = 4
COUNTERS = [str(n) for n in range(1, 21)]  # bench/mix.py's
OPERATOR_DELAY_S = 1.0  # before the operator starts a killed server again
STEADY_S = 2.0  # of undisturbed traffic before each fault
CATCH_UP_S = 60.0  # the read model is back within this after a fault (or the test fails)
QUIET_WAIT_S = 10.0  # more for the quiet queue, once the busy ones caught up


async def _tenant(settings: Settings) -> dict[str, str]:
    from access.directory import TenantDirectory
    from eventstore.pool import open_pool
    from eventstore.postgres import PostgresEventStore

    pool = await open_pool(settings, min_size=1, max_size=2, wait=True)
    try:
        directory = TenantDirectory(PostgresEventStore(pool))
        tenant_id, admin = await directory.create_tenant("Faults Clinic")
        keys = {"tenant": tenant_id, "admin": admin.secret}
        for role in ("staff", "kiosk", "viewer"):
            keys[role] = (await directory.create_key(tenant_id, role, role)).secret
    finally:
        await pool.close()
    return keys


async def _queues(http: httpx.AsyncClient, keys: dict[str, str]) -> tuple[list[str], str]:
    """The busy queues, and a quiet one (a slow desk): three people wait in it, a fourth joins
    just before Redis is killed, and nothing else happens to it."""
    made = []
    for n in range(QUEUES + 1):
        response = await http.post(
            "/v1/queues",
            json={"name": f"Desk {n + 1}", "counters": COUNTERS},
            headers={"Authorization": f"Bearer {keys['admin']}"},
        )
        assert response.status_code == 201, response.text
        made.append(str(response.json()["queue_id"]))
    quiet = made.pop()
    for _ in range(3):
        await _join(http, keys, quiet)
    return made, quiet


async def _join(http: httpx.AsyncClient, keys: dict[str, str], queue: str) -> None:
    """Somebody joins `queue`; returns once the read model shows it."""
    response = await http.post(
        f"/v1/queues/{queue}/tickets",
        json={"channel": "kiosk"},
        headers={"Authorization": f"Bearer {keys['kiosk']}"},
    )
    assert response.status_code == 201, response.text
    version = int(response.json()["stream_version"])
    await wait_caught_up(http, keys["viewer"], {queue: version}, CATCH_UP_S)


async def _fault(
    name: str,
    settings: Settings,
    product: Product,
    traffic: Traffic,
    http: httpx.AsyncClient,
    viewer: str,
) -> Window:
    """Kill `name`, bring it back, wait until commands are answered and the read model caught
    up with everything acknowledged by then."""
    killed = time.monotonic()
    if name in product.parts:  # the supervisor (systemd) starts it again after RestartSec
        part = product[name]
        starts = part.starts
        part.kill()
        while part.starts == starts:
            assert time.monotonic() < killed + CATCH_UP_S, f"{name} was not started again"
            await asyncio.sleep(0.05)
        restarted = part.started_at
        up = await product.wait_healthy() if name == "api" else None
    else:  # the operator: `vq stack up <server>`
        await asyncio.to_thread(kill_server, settings, name)
        await asyncio.sleep(OPERATOR_DELAY_S)
        restarted = time.monotonic()
        await asyncio.to_thread(start_servers, settings, [name])
        up = time.monotonic()
    deadline = time.monotonic() + CATCH_UP_S
    while not traffic.answered_since(up or restarted):
        assert time.monotonic() < deadline, f"commands not answered {CATCH_UP_S}s after {name}"
        await asyncio.sleep(0.05)
    caught_up = await wait_caught_up(
        http, viewer, traffic.acked_versions(), deadline - time.monotonic()
    )
    print(f"{name}: killed, read model caught up {caught_up - killed:.1f}s later")
    return Window(name, killed, restarted, up, caught_up)


def _store(settings: Settings) -> tuple[dict[tuple[str, int], tuple[str, str]], dict[str, Any]]:
    """(stream, version) -> (event id, command id), and idempotency key -> stored outcome."""
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {settings.db_schema}")
        events = {
            (str(stream), int(version)): (str(event_id), str(command_id))
            for stream, version, event_id, command_id in conn.execute(
                "SELECT stream_id, stream_version, event_id, command_id FROM events"
            )
        }
        outcomes = {
            str(key): outcome
            for key, outcome in conn.execute("SELECT idem_key, outcome FROM idempotency_keys")
        }
    return events, outcomes


def _check_acks(
    traffic: Traffic, events: dict[tuple[str, int], tuple[str, str]], outcomes: dict[str, Any]
) -> list[str]:
    """Every acknowledged event in the store, at its version, one command id per command, the
    Idempotency-Key kept with the outcome that was answered."""
    wrong = []
    for ack in traffic.acks:
        first = ack.stream_version - len(ack.event_ids) + 1
        commands = set()
        for offset, event_id in enumerate(ack.event_ids):
            stored = events.get((ack.queue_id, first + offset))
            if stored is None or stored[0] != event_id:
                wrong.append(f"{ack.op} {ack.key}: v{first + offset} is {stored}, not {event_id}")
            else:
                commands.add(stored[1])
        if len(commands) > 1:
            wrong.append(f"{ack.op} {ack.key}: events of several commands {commands}")
        outcome = outcomes.get(ack.key)
        if outcome is None or tuple(outcome["event_ids"]) != ack.event_ids:
            wrong.append(f"{ack.op} {ack.key}: Idempotency-Key kept {outcome}")
    return wrong


def _projections_check(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vq.cli", "projections", "check"],
        env=product_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_faults_under_load() -> None:
    began = time.monotonic()
    root = make_root()
    settings = private_settings(root)
    product = Product(settings)
    try:
        await _scenario(settings, product, began)
    finally:
        product.stop()
        await asyncio.to_thread(stop_servers, settings)
        for name, excerpts in product.tracebacks().items():
            print(f"--- {name} logged {len(excerpts)} traceback(s); the first:\n{excerpts[0]}")
        if os.environ.get("VQ_FAULTS_KEEP"):  # to read the servers' and processes' logs
            print(f"data and logs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
        print(f"fault test: {time.monotonic() - began:.1f}s in all")


@dataclass
class Run:
    traffic: Traffic
    windows: list[Window]
    events: dict[tuple[str, int], tuple[str, str]]  # (stream, version) -> (event id, command id)
    outcomes: dict[str, Any]  # Idempotency-Key -> the outcome kept with it
    quiet: str  # the queue nothing happened to during the faults
    quiet_read: int | None = None  # its version in the read model at the end (None: missing)
    seen: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # the topic, per queue
    checked: subprocess.CompletedProcess[str] | None = None  # `vq projections check`
    exits: list[Exit] = field(default_factory=list)

    def stored(self) -> dict[str, int]:
        newest: dict[str, int] = {}
        for stream, version in self.events:
            newest[stream] = max(newest.get(stream, 0), version)
        return newest


async def _scenario(settings: Settings, product: Product, began: float) -> None:
    await asyncio.to_thread(start_servers, settings)
    await asyncio.to_thread(migrate, settings.pg_url, settings.db_schema)
    keys = await _tenant(settings)
    product.start()
    watching = asyncio.Event()
    supervisor = asyncio.create_task(product.supervise(watching))
    try:
        await product.wait_healthy()
        run = await _under_load(settings, product, keys, began)
        run.seen = await read_topic(settings, run.events)
        run.checked = await asyncio.to_thread(_projections_check, settings)
    finally:
        watching.set()
        await supervisor
    run.exits = product.exits
    _report(run)


async def _under_load(
    settings: Settings, product: Product, keys: dict[str, str], began: float
) -> Run:
    """The traffic, the faults one after the other, then the store once the read model caught
    up with all of it."""
    async with httpx.AsyncClient(base_url=product.base, timeout=10) as http:
        queues, quiet = await _queues(http, keys)
        traffic = Traffic(product.base, queues, keys, RATE)
        stop = asyncio.Event()
        load = asyncio.create_task(traffic.run(stop))
        print(f"stack and product up after {time.monotonic() - began:.1f}s; traffic at {RATE}/s")
        windows: list[Window] = []
        try:
            for name in FAULTS:
                await asyncio.sleep(STEADY_S)
                if name == "redis":  # the quiet queue's last change: just before Redis dies
                    await _join(http, keys, quiet)
                windows.append(await _fault(name, settings, product, traffic, http, keys["viewer"]))
            await asyncio.sleep(STEADY_S)
        finally:
            stop.set()
            await load
        ended = time.monotonic()
        for window, following in zip(windows, [*windows[1:], None], strict=True):
            window.end = following.killed if following else ended
            window.measure(traffic.attempts)
        run = Run(traffic, windows, *_store(settings), quiet)
        stored = run.stored()
        busy = {queue: version for queue, version in stored.items() if queue != quiet}
        await wait_caught_up(http, keys["viewer"], busy, CATCH_UP_S)
        with contextlib.suppress(AssertionError):  # measured, and checked in _report
            await wait_caught_up(http, keys["viewer"], {quiet: stored[quiet]}, QUIET_WAIT_S)
        run.quiet_read = ((await read_versions(http, keys["viewer"])) or {}).get(quiet)
    return run


def _report(run: Run) -> None:
    traffic, events, checked = run.traffic, run.events, run.checked
    assert checked is not None
    statuses = traffic.statuses()
    lost = _check_acks(traffic, events, run.outcomes)
    topic_wrong, repeats = check_topic(run.seen, events)
    acked = {event_id for ack in traffic.acks for event_id in ack.event_ids}
    untold = [
        key
        for key, (event_id, _) in events.items()
        if key[1] > 1 and key[0] != run.quiet and event_id not in acked
    ]
    print(
        f"\n{traffic.sent} commands, {len(traffic.attempts)} attempts, {len(traffic.acks)} acked "
        f"({sum(a.replayed for a in traffic.acks)} replayed), {len(traffic.gave_up)} given up"
    )
    print(f"statuses: {dict(sorted(statuses.items()))}; 4xx: {dict(traffic.refused)}")
    print(
        f"store: {len(events)} events ({len(untold)} of commands whose answer nobody got); "
        f"Kafka: {sum(map(len, run.seen.values()))} messages, {repeats} repeated "
        "(at-least-once: the same event id again)"
    )
    quiet_stored = run.stored()[run.quiet]
    print(f"quiet queue: store v{quiet_stored}, read model {run.quiet_read}")
    print(f"vq projections check: {checked.stdout.strip().splitlines()[-1:]}")
    for gone in run.exits:
        if not gone.expected:
            print(f"{gone.name} stopped on its own (exit {gone.code}); the supervisor restarted it")
    print(
        "\nunavailability per fault, in seconds after the SIGKILL (started: by the supervisor "
        "after RestartSec=3s, or by `vq stack up` 1s after; up: /healthz or `vq stack up` "
        "done; cmds back: first answer after the last failed attempt; read model: caught up "
        "with every command acknowledged when it was back)"
    )
    print(HEADER)
    for window in run.windows:
        print(window.row())
    assert not lost, f"{len(lost)} acknowledged events wrong in the store:\n" + "\n".join(lost[:20])
    assert not topic_wrong, "Kafka disagrees with the store:\n" + "\n".join(topic_wrong[:20])
    server_errors = {s: n for s, n in statuses.items() if s >= 500 and s != 503}
    assert not server_errors, f"5xx other than 503 answered: {server_errors}"
    assert not statuses[HANG], f"{statuses[HANG]} attempts had no answer in {ATTEMPT_TIMEOUT_S}s"
    assert not traffic.gave_up, f"commands given up after 30s: {traffic.gave_up[:5]}"
    assert "/problems/idempotency-key-reused" not in traffic.refused
    assert run.quiet_read == quiet_stored, (
        f"the quiet queue {run.quiet} (its last command came just before Redis was killed, none "
        f"since) reads version {run.quiet_read} in the read model, {QUIET_WAIT_S:.0f}s after the "
        f"busy queues caught up; the store has version {quiet_stored}"
    )
    assert checked.returncode == 0, f"vq projections check:\n{checked.stdout}{checked.stderr}"
    assert "0 differences" in checked.stdout
