"""`vq run`: the whole product on this machine: migrate, API, relay, workers, notifier, a demo
inbox and a live demo tenant.

Started by `make run` after the stack is up, as development (VQ_ENV=dev unless set: the
placeholder secrets are accepted). The app processes are children of this one; Ctrl-C
(or SIGTERM) stops them all. The demo tenant's id and keys are kept in `<data_dir>/demo.json` so a
second run reuses them (see vq/demo.py). The inbox (`vq inbox`) is the SMTP relay the notifier
sends email to, and the demo's webhook endpoint: its page shows what the product sent.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from core.settings import Settings, get_settings
from eventstore.migrate import migrate
from vq.demo import DEMO_QUEUES, DemoTraffic, ensure_demo
from vq.inbox import SECRET_VARIABLE

# Each app process: a name and its `vq` subcommand. The inbox starts later: it needs the demo's
# webhook secret, and the demo needs the API.
PROCESSES: tuple[tuple[str, list[str]], ...] = (
    ("api", ["api"]),
    ("relay", ["relay"]),
    ("worker", ["worker"]),
    ("notifier", ["notifier"]),
)
# Webhooks may not go to private addresses unless allowed: the demo's go to the inbox on loopback.
DEMO_OUTBOUND_ALLOW = "127.0.0.1/32"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run", help="run the product: API, relay, workers, notifier, demo inbox and a live demo"
    )
    run.add_argument("--no-demo", action="store_true", help="no demo tenant or demo traffic")
    run.add_argument(
        "--demo-rate",
        type=float,
        default=0.5,
        help="demo commands per second per queue (default 0.5)",
    )
    run.add_argument(
        "--inbox-port", type=int, default=8025, help="the demo inbox's HTTP port (default 8025)"
    )
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # The product on a developer's machine: the placeholder secrets are accepted (VQ_ENV=dev),
    # here and in every child, unless the operator chose an environment themselves.
    os.environ.setdefault("VQ_ENV", "dev")
    settings = get_settings()
    migrate(settings.pg_url, settings.db_schema)
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = os.environ.copy()
    # The API checks an endpoint's URL when it is made, the notifier when it sends: both need it.
    allow_loopback = not args.no_demo and "VQ_OUTBOUND_ALLOW" not in env
    if allow_loopback:
        env["VQ_OUTBOUND_ALLOW"] = DEMO_OUTBOUND_ALLOW
    # The links messages carry point at this API unless the operator named another address.
    env.setdefault("VQ_PUBLIC_URL", f"http://{settings.api_host}:{settings.api_port}")
    children = {name: _spawn(name, cmd, logs, env) for name, cmd in PROCESSES}
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    base = f"http://{settings.api_host}:{settings.api_port}"
    traffic: DemoTraffic | None = None
    try:
        _wait_for_api(base, children["api"])
        inbox = f"http://127.0.0.1:{args.inbox_port}/"
        demo = None if args.no_demo else ensure_demo(settings, base, inbox + "webhooks")
        children["inbox"] = _spawn_inbox(settings, args.inbox_port, demo, logs, env)
        _print_banner(settings, base, demo, logs, inbox, allow_loopback)
        traffic = None if demo is None else DemoTraffic(base, demo, args.demo_rate)
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
        if traffic is not None:
            traffic.close()
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


def _spawn(
    name: str, command: list[str], logs: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    log = (logs / f"{name}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "vq.cli", *command],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
    )


def _spawn_inbox(
    settings: Settings, port: int, demo: dict[str, Any] | None, logs: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """The inbox, with the demo endpoint's secret to check signatures; it is the SMTP relay too
    unless the settings name a relay elsewhere."""
    command = ["inbox", "--port", str(port)]
    if not _smtp_is_local(settings):
        command.append("--no-smtp")
    inbox_env = dict(env)
    webhook = None if demo is None else demo.get("webhook")
    if webhook is not None:
        inbox_env[SECRET_VARIABLE] = webhook["secret"]
    return _spawn("inbox", command, logs, inbox_env)


def _smtp_is_local(settings: Settings) -> bool:
    if settings.smtp_host == "localhost":
        return True
    try:
        return ipaddress.ip_address(settings.smtp_host).is_loopback
    except ValueError:
        return False


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


def _print_banner(
    settings: Settings,
    base: str,
    demo: dict[str, Any] | None,
    logs: Path,
    inbox: str,
    allow_loopback: bool,
) -> None:
    print()
    print("virtual-queue is running")
    print(f"  API              {base}   (OpenAPI: {base}/docs, {base}/openapi.json)")
    print(f"  Kafka topic      {settings.events_topic} on {settings.kafka_servers}")
    print(f"  logs             {logs}/")
    if demo is not None:
        shows = "webhooks and emails the demo sent"
    else:
        shows = "emails sent" if _smtp_is_local(settings) else "webhooks sent to it"
    print(f"  inbox            {inbox}  ({shows})")
    if allow_loopback:
        print(
            "  outbound         requests to 127.0.0.1 are allowed for the demo inbox "
            f"(VQ_OUTBOUND_ALLOW={DEMO_OUTBOUND_ALLOW}; set it to choose otherwise)"
        )
    if demo is not None:
        org = demo["tenant_id"]
        print(f"  demo tenant      {org}  (keys in {settings.data_dir}/demo.json)")
        print("  open in a browser:")
        print(f"    kiosk          {base}/kiosk#key={demo['kiosk_key']}")
        print(
            f"    staff console  {base}/staff?org={org}   "
            f"sign in as {demo['staff_email']} / {demo['staff_password']}  "
            "(Reception counter 4 is yours: the demo's traffic uses 1-3)"
        )
        print(
            f"    admin console  {base}/admin?org={org}   "
            f"sign in as {demo['admin_email']} / {demo['admin_password']}"
        )
        queues = ",".join(demo["queues"])
        print(f"    lobby display  {base}/display?queues={queues}#key={demo['display_key']}")
        print(f"    dashboard      {base}/dashboard#key={demo['viewer_key']}")
        for queue_id, body in zip(demo["queues"], DEMO_QUEUES, strict=True):
            print(f"    board {body['name']:<10} {base}/board/{queue_id}#key={demo['viewer_key']}")
        print("  for programs:")
        print(f"    analytics      {base}/v1/analytics?access_token={demo['viewer_key']}")
        first = demo["queues"][0]
        print(
            f"    accuracy       {base}/v1/queues/{first}/accuracy"
            f"?access_token={demo['viewer_key']}"
        )
        print(f"    admin key      {demo['admin_key']}")
    print("Ctrl-C stops the app processes; `vq stack down` stops PostgreSQL, Redis and Kafka.")
    sys.stdout.flush()
