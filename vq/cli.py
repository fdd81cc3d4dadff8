"""The `vq` command line. Each concern registers its own subcommands from its own package."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from core.settings import SettingsError

# Each registering module and the commands it adds (`register(sub)` adds exactly these; a unit
# test holds the two together). Imported lazily: `vq relay` imports the relay's module only, not
# the simulator's or the API's (each `vq` process started pays for what it imports), and `vq stack
# up` needs no Kafka client. Help, and a command not named here, import them all.
_REGISTRARS: dict[str, tuple[str, ...]] = {
    "deploy.cli": ("stack",),
    "eventstore.cli": ("db",),
    "access.cli": ("access", "audit", "tenants"),
    "access.signing_cli": ("signing-keys",),
    "vq.relay": ("relay",),
    "vq.serve": ("api",),
    "vq.worker": ("worker",),
    "vq.notifier": ("notifications", "notifier"),
    "vq.inbox": ("inbox",),
    "projections.cli": ("projections",),
    "exports.cli": ("data",),
    "queue_files.cli": ("queues",),
    "deploy.backup.cli": ("backup", "restore"),
    "vq.run": ("run",),
    "simulation.cli": ("simulate",),
    "topics.cli": ("deadletters",),
}


def registrar_of(command: str | None) -> str | None:
    """The module that adds `command`, or None (no command, or one no module names)."""
    return next((module for module, names in _REGISTRARS.items() if command in names), None)


def build_parser(modules: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser with the commands of `modules` (all of them by default)."""
    parser = argparse.ArgumentParser(prog="vq", description="virtual-queue operations")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _REGISTRARS if modules is None else modules:
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]
        register = importlib.import_module(module_name).register
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_given = list(sys.argv[1:] if argv is None else argv)
    module = registrar_of(args_given[0] if args_given else None)
    parser = build_parser(None if module is None else [module])
    args = parser.parse_args(args_given)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        result = func(args)
    except KeyboardInterrupt:
        return 130
    except SettingsError as exc:
        print(f"vq {args.command}: {exc}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
