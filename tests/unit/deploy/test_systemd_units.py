"""deploy/systemd/: the units for the API, relay, workers and notifier (and the one-shot init),
checked three ways: read by a small parser of systemd's syntax (what every unit must say: restart
policy, start limits, environment file, dedicated user, hardening, stop signal and timeout), their
commands parsed by the real `vq` command line, and, where this machine has systemd-analyze
(Debian's systemd package), `systemd-analyze verify` and its offline security review."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from core.settings import Settings
from vq.cli import build_parser

UNITS = Path(__file__).resolve().parents[3] / "deploy" / "systemd"
BINARY = "/opt/vq/bin/vq"
LONG_RUNNING = ("vq-api.service", "vq-relay.service", "vq-worker@.service", "vq-notifier.service")
SERVICES = (*LONG_RUNNING, "vq-init.service")
API_GRACE_S = 5  # uvicorn's timeout_graceful_shutdown in vq/serve.py
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictSUIDSGID": "yes",
    "CapabilityBoundingSet": "",
    "SystemCallArchitectures": "native",
}

Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    """systemd.syntax(7): [Section] headers, Key=Value lines (a key may repeat), comments
    starting with # or ;, a trailing backslash continuing the line. Anything else is an error."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    logical = re.sub(r"\\\n", " ", text)
    for number, raw in enumerate(logical.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if header := re.fullmatch(r"\[([A-Za-z]+)\]", line):
            section = unit.setdefault(header[1], {})
            continue
        match = re.fullmatch(r"([A-Za-z][A-Za-z0-9]*)=(.*)", line)
        assert match and section is not None, f"line {number}: {raw!r}"
        section.setdefault(match[1], []).append(match[2].strip())
    return unit


def seconds(value: str) -> float:
    """A systemd time span: "20s", "5min", "300" (seconds), "1min 30s"."""
    scale = {"": 1, "s": 1, "sec": 1, "ms": 0.001, "m": 60, "min": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value)
    assert parts and "".join(n + u for n, u in parts) == value.replace(" ", ""), value
    return sum(float(n) * scale[u] for n, u in parts)


def _units() -> dict[str, Unit]:
    return {name: parse_unit((UNITS / name).read_text()) for name in (*SERVICES, "vq.target")}


def _one(unit: Unit, section: str, key: str) -> str:
    [value] = unit[section][key]
    return value


def _environment(unit: Unit) -> list[str]:
    return [pair for line in unit["Service"].get("Environment", []) for pair in line.split()]


def test_each_process_has_a_metrics_port_of_its_own() -> None:
    units = _units()
    ports = {
        name: [
            p.split("=")[1] for p in _environment(units[name]) if p.startswith("VQ_METRICS_PORT=")
        ]
        for name in LONG_RUNNING
    }
    # The API serves /metrics on its own port; a worker's is its instance name (vq-worker@9201).
    assert ports == {
        "vq-api.service": [],
        "vq-relay.service": ["9101"],
        "vq-worker@.service": ["%i"],
        "vq-notifier.service": ["9102"],
    }
    assert _one(units["vq-worker@.service"], "Install", "DefaultInstance") == "9201"
    assert "metrics_port" in Settings.model_fields


def test_the_parser_refuses_what_systemd_would_not_read() -> None:
    assert parse_unit("[Service]\nExecStart=/bin/a \\\n  b\nX=1\nX=2\n")["Service"] == {
        "ExecStart": ["/bin/a    b"],
        "X": ["1", "2"],
    }
    for bad in ("Key=outside a section\n", "[Service]\nno equals sign\n", "[Ser vice]\n"):
        with pytest.raises(AssertionError):
            parse_unit(bad)
    assert seconds("20s") == 20 and seconds("5min") == 300 and seconds("1min 30s") == 90


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_a_long_running_unit_restarts_within_limits_and_stops_in_time(name: str) -> None:
    unit = _units()[name]
    service = unit["Service"]
    assert _one(unit, "Service", "Restart") in ("always", "on-failure")
    assert 1 <= seconds(_one(unit, "Service", "RestartSec")) <= 30
    assert seconds(_one(unit, "Unit", "StartLimitIntervalSec")) >= 60
    assert int(_one(unit, "Unit", "StartLimitBurst")) >= 5
    # The start limit must not be tripped by restarts alone faster than a human could react.
    assert int(_one(unit, "Unit", "StartLimitBurst")) * seconds(service["RestartSec"][0]) >= 30
    assert _one(unit, "Service", "KillSignal") == "SIGTERM"
    assert seconds(_one(unit, "Service", "TimeoutStopSec")) > API_GRACE_S + 5
    assert _one(unit, "Install", "WantedBy") == "vq.target"
    assert _one(unit, "Unit", "PartOf") == "vq.target"
    # The app units want the init (schema, topics), never require it: a failed requirement
    # would leave them stopped for good instead of restarting until the schema is there.
    assert "vq-init.service" in _one(unit, "Unit", "Wants").split()
    assert "vq-init.service" in _one(unit, "Unit", "After").split()
    assert "Requires" not in unit["Unit"] and "BindsTo" not in unit["Unit"]


@pytest.mark.parametrize("name", SERVICES)
def test_every_unit_runs_as_its_own_user_hardened_with_the_shared_environment(name: str) -> None:
    unit = _units()[name]
    assert _one(unit, "Service", "User") == _one(unit, "Service", "Group") == "vq"
    assert _one(unit, "Service", "EnvironmentFile") == "/etc/vq/vq.env"
    assert "VQ_DATA_DIR=/var/lib/vq" in _environment(unit)
    assert _one(unit, "Service", "StateDirectory") == "vq"
    for key, value in HARDENING.items():
        assert _one(unit, "Service", key) == value, key
    assert "@system-service" in unit["Service"]["SystemCallFilter"]


@pytest.mark.parametrize("name", SERVICES)
def test_every_command_is_one_the_vq_command_line_knows(name: str) -> None:
    parser = build_parser()
    for command in _units()[name]["Service"]["ExecStart"]:
        binary, *argv = shlex.split(command)
        assert binary == BINARY
        assert callable(parser.parse_args(argv).func), command


def test_the_api_unit_outlasts_its_grace_and_holds_its_live_streams() -> None:
    unit = _units()["vq-api.service"]
    assert seconds(_one(unit, "Service", "TimeoutStopSec")) >= 4 * API_GRACE_S
    assert int(_one(unit, "Service", "LimitNOFILE")) > Settings().live_max


def test_the_init_runs_once_per_start_and_is_retried() -> None:
    unit = _units()["vq-init.service"]
    assert _one(unit, "Service", "Type") == "oneshot"
    assert _one(unit, "Service", "RemainAfterExit") == "yes"
    assert _one(unit, "Service", "Restart") == "on-failure"
    assert [shlex.split(c)[1:3] for c in unit["Service"]["ExecStart"]] == [
        ["db", "migrate"],
        ["stack", "topics"],
    ]


def test_the_user_and_the_example_environment() -> None:
    [line] = [
        line
        for line in (UNITS / "vq.sysusers.conf").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert shlex.split(line) == [
        "u",
        "vq",
        "-",
        "virtual-queue",
        "/var/lib/vq",
        "/usr/sbin/nologin",
    ]
    # Every variable the example names (set or commented out) is a setting the product reads.
    example = (UNITS / "vq.env.example").read_text()
    names = re.findall(r"^#? ?(VQ_[A-Z0-9_]+)=", example, re.MULTILINE)
    assert len(names) > 10
    unknown = [n for n in names if n.removeprefix("VQ_").lower() not in Settings.model_fields]
    assert not unknown
    assert re.search(r"^VQ_ENV=prod$", example, re.MULTILINE)


def _installed_copy(tmp_path: Path) -> Path:
    """The units as installed, except for the executable: the app is not installed under
    /opt/vq on this machine, and verify checks that the command exists."""
    binary = tmp_path / "bin" / "vq"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    units = tmp_path / "units"
    units.mkdir()
    for source in UNITS.iterdir():
        (units / source.name).write_text(source.read_text().replace(BINARY, str(binary)))
    return units


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verifies_them_without_a_word(tmp_path: Path) -> None:
    units = _installed_copy(tmp_path)
    names = [n.replace("@.", "@9201.") for n in SERVICES] + ["vq.target"]
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(f"./{n}" for n in names)],
        cwd=units,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Unknown keys and bad values are only warnings for systemd (exit 0): none may be printed.
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")
    for name in LONG_RUNNING:
        review = subprocess.run(
            ["systemd-analyze", "security", "--offline=yes", "--no-pager", f"./{name}"],
            cwd=units,
            capture_output=True,
            text=True,
            timeout=60,
        )
        exposure = re.search(r"Overall exposure level for \S+: ([\d.]+)", review.stdout)
        assert exposure, review.stdout + review.stderr
        assert float(exposure[1]) <= 2.0, review.stdout  # "OK" is under 3; "safe" is 0
