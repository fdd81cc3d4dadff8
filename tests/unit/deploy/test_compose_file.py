"""deploy/compose.yaml: still valid YAML of the shape Compose reads, every long-running service
restarted when it exits and health-checked (the API on /readyz), and the relay's, workers' and
notifier's probe run here for real: a process check, or their metrics port when one is set."""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.servers import free_port

COMPOSE = Path(__file__).resolve().parents[3] / "deploy" / "compose.yaml"
ONE_SHOT = ("init",)
PROBED = ("relay", "worker", "notifier")


def _services() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", value)
    assert match, value
    return int(match[1]) * (60 if match[2] == "m" else 1)


def test_every_long_running_service_restarts_and_is_health_checked() -> None:
    services = _services()
    assert set(services) >= {"postgres", "redis", "kafka", "init", "api", *PROBED}
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, (name, needed)
        if name in ONE_SHOT:
            assert service["restart"] == "no" and service["healthcheck"] == {"disable": True}
            continue
        assert service["restart"] in ("unless-stopped", "always"), name
        check = service["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        # Compose would interpolate a `$` in the probe (and fail on an unknown variable).
        assert "$" not in "".join(check["test"]), name
        assert _seconds(check["timeout"]) <= 10 and _seconds(check["interval"]) <= 30, name
        assert int(check["retries"]) >= 3, name


def test_the_api_is_ready_when_readyz_says_so_and_has_time_to_stop() -> None:
    api = _services()["api"]
    port = api["command"][api["command"].index("--port") + 1]
    probe = api["healthcheck"]["test"]
    assert probe[:3] == ["CMD", "python", "-c"]
    assert f'"http://127.0.0.1:{port}/readyz"' in probe[3]
    compile(probe[3], "api healthcheck", "exec")
    assert _seconds(api["stop_grace_period"]) > 5  # uvicorn's grace (vq/serve.py)
    assert _seconds(api["healthcheck"]["start_period"]) >= 10


class _Metrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/metrics" else 404)
        self.end_headers()
        self.wfile.write(b"vq_up 1\n")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def metrics_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("name", PROBED)
def test_the_process_probe_runs(name: str, metrics_port: int) -> None:
    service = _services()[name]
    assert service["restart"] == "unless-stopped"
    assert _seconds(service["stop_grace_period"]) >= 20
    command = service["healthcheck"]["test"]
    assert command[:3] == ["CMD", "python", "-c"]
    # Its own environment adds the metrics port to the app's (a YAML merge, not a replacement).
    assert service["environment"]["VQ_METRICS_PORT"] == "9100"
    assert (
        service["environment"]["VQ_DATABASE_URL"]
        == _services()["api"]["environment"]["VQ_DATABASE_URL"]
    )

    def probe(**env: str) -> int:
        clean = {k: v for k, v in os.environ.items() if k != "VQ_METRICS_PORT"}
        run = subprocess.run(
            [sys.executable, "-c", command[3]], env={**clean, **env}, capture_output=True
        )
        return run.returncode

    assert probe() == 0  # this machine's PID 1 runs
    assert probe(VQ_METRICS_PORT=str(metrics_port)) == 0
    assert probe(VQ_METRICS_PORT=str(free_port())) != 0  # nobody answers there
