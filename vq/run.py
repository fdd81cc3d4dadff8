"""`vq run`: the whole product on this machine: migrate, API, relay, workers, notifier, a demo
inbox and a live demo tenant.

Started by `make run` after the stack is up, as development (VQ_ENV=dev unless set: the
placeholder secrets are accepted). The app processes are children of this one, supervised
(vq/supervisor.py): one that dies is started again after a back-off, with a line saying so; only
Ctrl-C, SIGTERM or SIGHUP stops them all (a second Ctrl-C does not wait for them). The demo
tenant's id and keys are kept in `<data_dir>/demo.json` so a second run reuses them (see
vq/demo.py). The inbox (`vq inbox`) is the SMTP relay the notifier sends email to, and the demo's
webhook endpoint: its page shows what the product sent.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import signal
import socket
import sys
import time
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from core.settings import Settings, get_settings
from eventstore.migrate import migrate
from vq.demo import DEMO_QUEUES, DemoTraffic, ScenarioTraffic, ensure_demo, next_demo_clock
from vq.inbox import SECRET_VARIABLE
from vq.supervisor import ChildSpec, Supervisor, stop_leftovers

# The ports the relay, the worker and the notifier serve /metrics on (the API serves its own on
# its port), unless `--metrics-ports` says others: those of deploy/systemd's units and
# deploy/prometheus/prometheus.yml, so that Prometheus scrapes `vq run` as it would a host. Given
# on the command line, they win over a VQ_METRICS_PORT in the environment (one port for every
# child could not work).
METRICS_PORTS = {"relay": 9101, "worker": 9201, "notifier": 9102}
METRICS_PORTS_FLAG = "--metrics-ports"
# Webhooks may not go to private addresses unless allowed: the demo's go to the inbox on loopback.
DEMO_OUTBOUND_ALLOW = "127.0.0.1/32"
# Ctrl-C, `kill`, and a closed terminal (the children, in sessions of their own, would outlive it).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
API_PATIENCE_S = 30.0  # then a line saying the API has not answered yet (and the wait goes on)


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
    default = ",".join(map(str, METRICS_PORTS.values()))
    run.add_argument(
        METRICS_PORTS_FLAG,
        type=metrics_ports,
        default=dict(METRICS_PORTS),
        metavar="RELAY,WORKER,NOTIFIER",
        help=f"the ports the relay, the worker and the notifier serve /metrics on (default "
        f"{default}); a second `vq run` on this host needs its own, as it needs its own "
        "VQ_API_PORT, --inbox-port, VQ_SMTP_PORT and VQ_DATA_DIR",
    )
    run.set_defaults(func=_run)


def metrics_ports(given: str) -> dict[str, int]:
    """`--metrics-ports 19101,19201,19102`: the relay's, the worker's and the notifier's."""
    parts = [p.strip() for p in given.split(",")]
    if len(parts) != len(METRICS_PORTS) or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"three ports, as RELAY,WORKER,NOTIFIER: not {given!r}")
    ports = [int(p) for p in parts]
    if not all(0 < p < 65536 for p in ports) or len(set(ports)) != len(ports):
        raise argparse.ArgumentTypeError(f"three different ports from 1 to 65535: not {given!r}")
    return dict(zip(METRICS_PORTS, ports, strict=True))


def processes(ports: dict[str, int]) -> list[tuple[str, list[str]]]:
    """Each app process: a name and its `vq` subcommand. The inbox starts later: it needs the
    demo's webhook secret, and the demo needs the API."""
    return [
        ("api", ["api"]),
        *((name, [name, "--metrics-port", str(port)]) for name, port in ports.items()),
    ]


def ports_taken(settings: Settings, args: argparse.Namespace) -> str | None:
    """The one line that says which port this run needs is taken (by another `vq run`, most
    often) and which setting chooses another; None when all are free. Said before anything
    starts: the API would be restarted again and again, the others would run without metrics
    (or Prometheus would read another run's as theirs)."""
    host, metrics = settings.metrics_host, args.metrics_ports
    wanted = [
        (settings.api_host, settings.api_port, "the API", "VQ_API_PORT"),
        *(
            (host, port, f"the {name}'s metrics", f"{METRICS_PORTS_FLAG} RELAY,WORKER,NOTIFIER")
            for name, port in metrics.items()
        ),
        ("127.0.0.1", args.inbox_port, "the demo inbox", "--inbox-port ..."),
    ]
    if _smtp_is_local(settings):  # the inbox is the SMTP relay too
        wanted.append((settings.smtp_host, settings.smtp_port, "the inbox's SMTP", "VQ_SMTP_PORT"))
    for where, port, what, setting in wanted:
        if _taken(where, port):
            return (
                f"vq run: port {port} at {where} ({what}) is taken, perhaps by another `vq run`"
                f" on this host; choose another with {setting}"
            )
    return None


def _taken(host: str, port: int) -> bool:
    """Whether a server listens on host:port already (SO_REUSEADDR, as the servers bind: a port
    still in TIME_WAIT after the last run is not taken)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError:
        return False  # an address that does not resolve: the child says so itself
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


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
    # The demo plays a simulated clinic day on an accelerated clock that the API keeps (unless
    # the operator set a clock): services take time, and utilisation and waits are real ones.
    if not args.no_demo and "VQ_CLOCK_START" not in env and "VQ_CLOCK_SPEED" not in env:
        clock_start, clock_speed = next_demo_clock(settings)
        env["VQ_CLOCK_START"], env["VQ_CLOCK_SPEED"] = clock_start.isoformat(), str(clock_speed)
    supervisor = Supervisor(logs, settings.data_dir / "run.json")
    stop_leftovers(supervisor.state_file, supervisor.say)
    if (taken := ports_taken(settings, args)) is not None:
        raise SystemExit(taken)
    stop = _StopSignals()
    for name, command in processes(args.metrics_ports):
        supervisor.start(_spec(name, command, env))
    base = f"http://{settings.api_host}:{settings.api_port}"
    traffic: DemoTraffic | ScenarioTraffic | None = None
    try:
        if not _wait_for_api(base, supervisor, stop):
            return 0
        inbox = f"http://127.0.0.1:{args.inbox_port}/"
        # The demo's clock (next_demo_clock): its traffic plays a day of the scenario.
        played = "VQ_CLOCK_START" in env and "VQ_CLOCK_START" not in os.environ
        demo = None if args.no_demo else ensure_demo(settings, base, inbox + "webhooks", played)
        supervisor.start(_inbox_spec(settings, args.inbox_port, demo, env))
        # Without the scenario's day its queue is not where the traffic is: not shown first.
        shown = demo if played or demo is None else {**demo, "traffic_queue": None}
        _print_banner(settings, base, shown, logs, inbox, allow_loopback, args.metrics_ports)
        if demo is not None and played:
            clock_start = datetime.fromisoformat(env["VQ_CLOCK_START"])
            traffic = ScenarioTraffic(settings, base, demo, clock_start)
        elif demo is not None:
            traffic = DemoTraffic(base, demo, args.demo_rate)
        while not stop.count:
            supervisor.poll()
            if traffic is not None:
                traffic.step()
            time.sleep(0.2)
    finally:
        if traffic is not None:
            traffic.close()
        print("\nstopping the app processes (the stack keeps running: `vq stack down`)...")
        sys.stdout.flush()
        supervisor.stop(hurry=lambda: stop.count > 1)
    return 0


class _StopSignals:
    """Counts the stop signals from the moment it is made: the first stops the children
    gracefully (SIGTERM, then the grace), a second stops them at once (SIGKILL)."""

    def __init__(self) -> None:
        self.count = 0
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._received)

    def _received(self, signum: int, _frame: FrameType | None) -> None:
        self.count += 1
        if self.count > 1:  # os.write: print() may be under way in the code interrupted
            name = signal.Signals(signum).name
            os.write(2, f"\n{name} again: not waiting for the app processes\n".encode())


def _spec(name: str, command: list[str], env: dict[str, str]) -> ChildSpec:
    return ChildSpec(name, (sys.executable, "-m", "vq.cli", *command), env)


def _inbox_spec(
    settings: Settings, port: int, demo: dict[str, Any] | None, env: dict[str, str]
) -> ChildSpec:
    """The inbox, with the demo endpoint's secret to check signatures; it is the SMTP relay too
    unless the settings name a relay elsewhere."""
    command = ["inbox", "--port", str(port)]
    if not _smtp_is_local(settings):
        command.append("--no-smtp")
    inbox_env = dict(env)
    webhook = None if demo is None else demo.get("webhook")
    if webhook is not None:
        inbox_env[SECRET_VARIABLE] = webhook["secret"]
    return _spec("inbox", command, inbox_env)


def _smtp_is_local(settings: Settings) -> bool:
    if settings.smtp_host == "localhost":
        return True
    try:
        return ipaddress.ip_address(settings.smtp_host).is_loopback
    except ValueError:
        return False


def _wait_for_api(base: str, supervisor: Supervisor, stop: _StopSignals) -> bool:
    """Until the API is ready (True) or a stop is asked for (False). An API that dies meanwhile
    is restarted like any child; a slow one gets a line after API_PATIENCE_S, and more time."""
    patience: float | None = time.monotonic() + API_PATIENCE_S
    while not stop.count:
        supervisor.poll()
        if supervisor.alive("api"):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
        if patience is not None and time.monotonic() > patience:
            patience = None
            supervisor.say(
                f"the API has not answered at {base}/readyz for {API_PATIENCE_S:.0f} s; "
                f"still waiting (see {supervisor.logs}/api.log)"
            )
        time.sleep(0.2)
    return False


def _print_banner(
    settings: Settings,
    base: str,
    demo: dict[str, Any] | None,
    logs: Path,
    inbox: str,
    allow_loopback: bool,
    metrics_ports: dict[str, int],
) -> None:
    print()
    print("virtual-queue is running")
    print(f"  API              {base}   (OpenAPI: {base}/docs, {base}/openapi.json)")
    print(f"  Kafka topic      {settings.events_topic} on {settings.kafka_servers}")
    print(f"  logs             {logs}/")
    print(f"  metrics          {base}/metrics (API)")
    pad = " " * 19
    for name, port in metrics_ports.items():
        print(f"{pad}http://{settings.metrics_host}:{port}/metrics ({name})")
    print(f"{pad}(Prometheus and its alerts: deploy/prometheus; Grafana: deploy/grafana)")
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
        # The queue the traffic plays its day on comes first (the others wait for a person).
        traffic = [demo["traffic_queue"]] if demo.get("traffic_queue") else []
        named = [("Clinic", q) for q in traffic]
        named += [(body["name"], q) for q, body in zip(demo["queues"], DEMO_QUEUES, strict=True)]
        queues = ",".join(q for _, q in named)
        print(f"    lobby display  {base}/display?queues={queues}#key={demo['display_key']}")
        chosen = f"&queue={named[0][1]}" if traffic else ""
        print(f"    dashboard      {base}/dashboard#key={demo['viewer_key']}{chosen}")
        for name, queue_id in named:
            print(f"    board {name:<10} {base}/board/{queue_id}#key={demo['viewer_key']}")
        # The key in a header, not in the URL (URLs end up in histories and proxies' logs).
        bearer = f"curl -H 'Authorization: Bearer {demo['viewer_key']}'"
        print("  for programs:")
        print(f"    analytics      {bearer} {base}/v1/analytics")
        first = named[0][1]
        print(f"    accuracy       {bearer} {base}/v1/queues/{first}/accuracy")
        print(f"    admin key      {demo['admin_key']}")
    print("Ctrl-C stops the app processes; `vq stack down` stops PostgreSQL, Redis and Kafka.")
    sys.stdout.flush()
