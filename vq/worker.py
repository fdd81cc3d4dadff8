"""The stream workers' composition root (`vq worker`): as many as you like; they share the
partitions."""

from __future__ import annotations

import argparse

from core.settings import get_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser("worker", help="fold queue events into the read models (Faust)")
    worker.add_argument("--loglevel", default="info")
    worker.set_defaults(func=_worker)


def _worker(args: argparse.Namespace) -> int:
    import faust

    from streams.app import create_app

    app = create_app(get_settings())
    worker = faust.Worker(app, loglevel=args.loglevel, override_logging=False)
    worker.execute_from_commandline()
    return 0
