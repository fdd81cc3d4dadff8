"""`vq run`: the whole product on this machine: migrate, API, relay, workers, a live demo tenant.

Started by `make run` after the stack is up. The app processes are children of this one; Ctrl-C
(or SIGTERM) stops them all. The demo tenant's id and keys are kept in `<data_dir>/demo.json` so a
second run reuses them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from core.settings import Settings, get_settings
from eventstore.migrate import migrate
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from eventstore.tenants import TenantDirectory

# Each app process: a name and its `vq` subcommand.
PROCESSES: tuple[tuple[str, list[str]], ...] = (
    ("api", ["api"]),
    ("relay", ["relay"]),
    ("worker", ["worker"]),
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="run the product: API, relay, workers and a live demo")
    run.add_argument("--no-demo", action="store_true", help="no demo tenant or demo traffic")
    run.add_argument(
        "--demo-rate",
        type=float,
        default=0.5,
        help="demo commands per second per queue (default 0.5)",
    )
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    settings = get_settings()
    migrate(settings.pg_url, settings.db_schema)
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    children = {name: _spawn(name, cmd, logs) for name, cmd in PROCESSES}
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    base = f"http://{settings.api_host}:{settings.api_port}"
    try:
        _wait_for_api(base, children["api"])
        demo = None if args.no_demo else _ensure_demo(settings, base)
        _print_banner(settings, base, demo, logs)
        traffic = None if demo is None else _DemoTraffic(base, demo, args.demo_rate)
        while not stopping:
            for name, proc in children.items():
                if proc.poll() is not None:
                    print(
                        f"vq run: {name} exited with {proc.returncode}; see {logs}/{name}.log",
                        file=sys.stderr,
                    )
                    return 1
            if traffic is not None:
                traffic.step()
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping the app processes (the stack keeps running: `vq stack down`)...")
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in children.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


def _spawn(name: str, command: list[str], logs: Path) -> subprocess.Popen[bytes]:
    log = (logs / f"{name}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "vq.cli", *command],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
        start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
    )


def _wait_for_api(base: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"vq run: the API exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"vq run: the API did not answer at {base} within {timeout:.0f}s")


DEMO_QUEUES: tuple[dict[str, Any], ...] = (
    {
        "name": "Reception",
        "prefix": "R",
        "counters": ["1", "2", "3"],
        "service_types": ["check-in", "billing"],
        "aging_after_seconds": 600,
    },
    {"name": "Pharmacy", "prefix": "P", "counters": ["A", "B"]},
    {"name": "Laboratory", "prefix": "L", "counters": ["Lab 1"], "capacity": 40},
)


def _ensure_demo(settings: Settings, base: str) -> dict[str, Any]:
    """The demo tenant, made once and remembered in the data folder."""
    path = settings.data_dir / "demo.json"
    if path.exists():
        demo: dict[str, Any] = json.loads(path.read_text())
        if _key_works(base, demo["admin_key"]):  # else the database was wiped: make it anew
            return demo

    async def make() -> dict[str, Any]:
        pool = await open_pool(settings, wait=True)
        try:
            directory = TenantDirectory(PostgresEventStore(pool))
            tenant_id, admin = await directory.create_tenant("Demo Clinic")
            staff = await directory.create_key(tenant_id, "demo staff", "staff")
            kiosk = await directory.create_key(tenant_id, "demo kiosk", "kiosk")
            viewer = await directory.create_key(tenant_id, "demo board", "viewer")
        finally:
            await pool.close()
        return {
            "tenant_id": tenant_id,
            "admin_key": admin.secret,
            "staff_key": staff.secret,
            "kiosk_key": kiosk.secret,
            "viewer_key": viewer.secret,
        }

    demo = asyncio.run(make())
    queues = []
    for body in DEMO_QUEUES:
        response = httpx.post(
            f"{base}/v1/queues",
            json=body,
            timeout=10,
            headers={"Authorization": f"Bearer {demo['admin_key']}"},
        )
        response.raise_for_status()
        queues.append(response.json()["queue_id"])
    demo["queues"] = queues
    path.write_text(json.dumps(demo, indent=2))
    path.chmod(0o600)
    return demo


def _key_works(base: str, key: str) -> bool:
    response = httpx.get(f"{base}/v1/keys", headers={"Authorization": f"Bearer {key}"}, timeout=5)
    return response.status_code == 200


class _DemoTraffic:
    """A gentle stream of arrivals, calls and services so the demo queues look alive."""

    def __init__(self, base: str, demo: dict[str, Any], rate: float) -> None:
        self._rng = random.Random()
        self._client = httpx.Client(base_url=base, timeout=5)
        self._demo = demo
        self._interval = 1.0 / max(rate * len(demo["queues"]), 0.01)
        self._next = time.monotonic()
        self._at_counter: dict[tuple[str, str], str] = {}  # (queue, counter) -> ticket called
        self._resume()

    def _resume(self) -> None:
        """Take over the tickets a previous run left at the counters, so they get served (else
        they would hold their counter forever, and the estimators would learn that)."""
        for queue_id in self._demo["queues"]:
            try:
                response = self._client.get(
                    f"/v1/queues/{queue_id}",
                    headers={"Authorization": f"Bearer {self._demo['staff_key']}"},
                )
            except httpx.TransportError:
                return
            if response.status_code != 200:
                continue
            for serving in response.json().get("now_serving", []):
                self._at_counter[(queue_id, serving["counter"])] = serving["ticket_id"]

    def step(self) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self._rng.expovariate(1.0 / self._interval)
        index = self._rng.randrange(len(self._demo["queues"]))
        queue_id = self._demo["queues"][index]
        try:
            if self._rng.random() < 0.5:
                self._post(
                    self._demo["kiosk_key"],
                    f"/v1/queues/{queue_id}/tickets",
                    {
                        "priority": self._rng.choice(["normal"] * 8 + ["vip", "urgent"]),
                        "channel": self._rng.choice(["kiosk", "web", "qr"]),
                    },
                )
            else:
                self._serve(queue_id, self._rng.choice(DEMO_QUEUES[index]["counters"]))
        except httpx.TransportError:
            pass  # the API restarting; the next step tries again

    def _serve(self, queue_id: str, counter: str) -> None:
        """Finish whoever the counter called last (or mark a no-show), then call the next."""
        staff = self._demo["staff_key"]
        previous = self._at_counter.pop((queue_id, counter), None)
        if previous is not None:
            if self._rng.random() < 0.07:
                self._post(staff, f"/v1/tickets/{previous}/no-show")
            else:
                self._post(staff, f"/v1/tickets/{previous}/start")
                self._post(staff, f"/v1/tickets/{previous}/complete")
        called = self._post(staff, f"/v1/queues/{queue_id}/call-next", {"counter": counter})
        if called is not None and called.get("ticket"):
            self._at_counter[(queue_id, counter)] = called["ticket"]["ticket_id"]

    def _post(
        self, key: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        response = self._client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
        return dict(response.json()) if response.status_code in (200, 201) else None


def _print_banner(settings: Settings, base: str, demo: dict[str, Any] | None, logs: Path) -> None:
    print()
    print("virtual-queue is running")
    print(f"  API              {base}   (OpenAPI: {base}/docs, {base}/openapi.json)")
    print(f"  Kafka topic      {settings.events_topic} on {settings.kafka_servers}")
    print(f"  logs             {logs}/")
    if demo is not None:
        print(f"  demo tenant      {demo['tenant_id']}  (keys in {settings.data_dir}/demo.json)")
        print("  live boards (open in a browser):")
        for queue_id, body in zip(demo["queues"], DEMO_QUEUES, strict=True):
            print(
                f"    {body['name']:<12} {base}/board/{queue_id}?access_token={demo['viewer_key']}"
            )
        print(f"  dashboard        {base}/dashboard?access_token={demo['viewer_key']}")
        print(f"  analytics        {base}/v1/analytics?access_token={demo['viewer_key']}")
        first = demo["queues"][0]
        print(
            f"  estimate accuracy {base}/v1/queues/{first}/accuracy"
            f"?access_token={demo['viewer_key']}"
        )
        print(f"  admin key        {demo['admin_key']}")
    print("Ctrl-C stops the app processes; `vq stack down` stops PostgreSQL, Redis and Kafka.")
    sys.stdout.flush()
