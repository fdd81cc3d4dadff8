"""`vq stack ...`: the native stack's command line. Expected failures print one line, exit 1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from deploy.errors import StackError

if TYPE_CHECKING:
    from core.settings import Settings

_SERVICES = (
    "postgresql",
    "redis",
    "kafka",
    "registry",
)  # as in deploy.stack, not imported: keep `vq` fast


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stack = subparsers.add_parser(
        "stack",
        help="run PostgreSQL, Redis and Kafka on this machine (no Docker)",
        description="The native stack: PostgreSQL and Redis from Debian's packages, Kafka 4 "
        "(KRaft) from Maven Central, all with their data under VQ_DATA_DIR.",
    )
    actions = stack.add_subparsers(dest="action", metavar="ACTION", required=True)

    def add(
        name: str, help_text: str, func: Callable[[argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_text, description=help_text)
        parser.set_defaults(func=_guarded(func))
        return parser

    for name, help_text, func in (
        ("up", "start what is not running, wait until it answers, create the topics", _up),
        ("down", "stop the services cleanly", _down),
        ("status", "say which services are up (exit 0 only if all are)", _status),
    ):
        add(name, help_text, func).add_argument(
            "services",
            nargs="*",
            metavar="SERVICE",
            help=f"some of {', '.join(_SERVICES)} (default: all)",
        )
    logs = add("logs", "show the last lines of the logs", _logs)
    logs.add_argument("service", nargs="?", choices=_SERVICES, metavar="SERVICE")
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.add_argument("-f", "--follow", action="store_true")
    topics = add(
        "topics",
        "create the project's topics where VQ_KAFKA_BOOTSTRAP points (for "
        "Compose and Kubernetes; `up` does it for the native stack)",
        _topics,
    )
    topics.add_argument(
        "--wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for Kafka to answer (default 60)",
    )
    clean = add("clean", "delete the data of a stopped stack (keeps the Kafka jars)", _clean)
    clean.add_argument("--all", action="store_true", help="delete the Kafka jar cache too")


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except StackError as exc:
            print(f"vq stack: {exc.message}", file=sys.stderr, flush=True)
            return 1

    return run


def _settings() -> Settings:
    from core.settings import SettingsError, get_settings

    try:
        return get_settings()
    except SettingsError as exc:  # already one line naming the variable
        raise StackError(str(exc)) from exc


def _up(args: argparse.Namespace) -> int:
    from deploy import stack

    for line in stack.up(_settings(), args.services):
        print(line)
    return 0


def _down(args: argparse.Namespace) -> int:
    from deploy import stack

    for line in stack.down(_settings(), args.services):
        print(line)
    return 0


def _status(args: argparse.Namespace) -> int:
    from deploy import stack

    lines, all_up = stack.status(_settings(), args.services)
    for line in lines:
        print(line)
    return 0 if all_up else 1


def _logs(args: argparse.Namespace) -> int:
    from deploy import stack

    return stack.logs(_settings(), args.service, args.lines, args.follow)


def _topics(args: argparse.Namespace) -> int:
    from deploy import stack

    for line in stack.create_topics(_settings(), args.wait):
        print(line)
    return 0


def _clean(args: argparse.Namespace) -> int:
    from deploy import stack

    for line in stack.clean(_settings(), args.all):
        print(line)
    return 0
