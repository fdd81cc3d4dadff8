"""The `vq` command line. Each concern registers its own subcommands from its own package."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from core.settings import SettingsError

# (module, function) pairs: each function takes the subparsers object and adds its commands,
# setting `func` on the parser it adds. Imported lazily so `vq stack up` needs no Kafka client.
_REGISTRARS: tuple[tuple[str, str], ...] = (
    ("deploy.cli", "register"),
    ("eventstore.cli", "register"),
    ("access.cli", "register"),
    ("access.signing_cli", "register"),
    ("vq.relay", "register"),
    ("vq.serve", "register"),
    ("vq.worker", "register"),
    ("vq.notifier", "register"),
    ("vq.inbox", "register"),
    ("projections.cli", "register"),
    ("exports.cli", "register"),
    ("queue_files.cli", "register"),
    ("deploy.backup.cli", "register"),
    ("vq.run", "register"),
    ("simulation.cli", "register"),
    ("topics.cli", "register"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vq", description="virtual-queue operations")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name, attr in _REGISTRARS:
        module = importlib.import_module(module_name)
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] = getattr(
            module, attr
        )
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
