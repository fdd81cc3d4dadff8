"""`vq run`'s ports: the metrics ports are chosen with `--metrics-ports` (they were fixed at 9101,
9201 and 9102, so a second `vq run` on the host collided), and a port that is taken is said in
one line naming the setting that chooses another, before anything starts."""

from __future__ import annotations

import argparse
import socket
from collections.abc import Iterator

import pytest

from core.settings import Settings
from vq.cli import build_parser
from vq.run import METRICS_PORTS, ports_taken, processes


def run_args(*given: str) -> argparse.Namespace:
    return build_parser().parse_args(["run", *given])


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something listens on, at 127.0.0.1 (another `vq run`'s, say)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def settings(**more: object) -> Settings:
    free = {"api_port": free_port(), "smtp_port": free_port(), "metrics_host": "127.0.0.1"}
    return Settings(env="dev", **{**free, **more})


def test_the_metrics_ports_are_chosen_on_the_command_line() -> None:
    args = run_args("--metrics-ports", "19101,19201,19102")
    assert args.metrics_ports == {"relay": 19101, "worker": 19201, "notifier": 19102}
    commands = dict(processes(args.metrics_ports))
    assert commands == {
        "api": ["api"],
        "relay": ["relay", "--metrics-port", "19101"],
        "worker": ["worker", "--metrics-port", "19201"],
        "notifier": ["notifier", "--metrics-port", "19102"],
    }
    assert (
        run_args().metrics_ports
        == METRICS_PORTS
        == {
            "relay": 9101,
            "worker": 9201,
            "notifier": 9102,
        }
    )


@pytest.mark.parametrize("given", ["19101,19201", "19101,19201,x", "1,1,2", "0,1,2", "1,2,70000"])
def test_ports_that_cannot_be_are_refused(given: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_args("--metrics-ports", given)
    assert "--metrics-ports" in capsys.readouterr().err


def test_a_taken_metrics_port_is_said_in_one_line_naming_the_setting(listening: int) -> None:
    args = run_args("--metrics-ports", f"{free_port()},{listening},{free_port()}")
    args.inbox_port = free_port()
    said = ports_taken(settings(), args)
    assert said is not None and "\n" not in said
    assert f"port {listening} at 127.0.0.1 (the worker's metrics) is taken" in said, said
    assert said.endswith("choose another with --metrics-ports RELAY,WORKER,NOTIFIER"), said


def test_a_taken_api_port_names_its_setting(listening: int) -> None:
    args = run_args("--metrics-ports", f"{free_port()},{free_port()},{free_port()}")
    args.inbox_port = free_port()
    said = ports_taken(settings(api_host="127.0.0.1", api_port=listening), args)
    assert said is not None and said.endswith("choose another with VQ_API_PORT"), said


def test_free_ports_say_nothing() -> None:
    args = run_args("--metrics-ports", f"{free_port()},{free_port()},{free_port()}")
    args.inbox_port = free_port()
    assert ports_taken(settings(), args) is None
