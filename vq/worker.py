"""The stream workers' composition root (`vq worker`): as many as you like; they share the
partitions."""

from __future__ import annotations

import argparse

from core import collector
from core.kafka_start import kafka_answers
from core.settings import get_settings
from observability import metrics, tracing
from observability.logs import configure_logging

# Middle-generation collections between two full ones (CPython: 10): see core/collector.py.
FULL_GC_EVERY = 100


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser("worker", help="fold queue events into the read models (Faust)")
    worker.add_argument("--loglevel", default=None, help="default: VQ_LOG_LEVEL (info)")
    metrics.port_argument(worker)
    worker.set_defaults(func=_worker)


def _worker(args: argparse.Namespace) -> int:
    # uvloop, before Faust makes its loop: the event loop (selector, socket writes, wake-ups)
    # was the largest part of a worker's CPU on the stock one.
    import mode.loop
    import mode.utils.loops

    mode.loop.use("uvloop")
    from streams.app import StreamWorker, create_app

    settings = get_settings()
    configure_logging("worker", settings, level=args.loglevel)
    # Faust gives up on a Kafka that is away at its start (exit 1, to be restarted in a loop by
    # whoever watches it): the worker waits for it first, on the loop Faust then runs on, and a
    # SIGTERM meanwhile ends it cleanly.
    loop = mode.utils.loops.get_event_loop()
    if not loop.run_until_complete(kafka_answers(settings, "worker")):
        return 0
    tracing.configure_tracing("worker", settings)
    app = create_app(settings)
    worker = StreamWorker(app, loglevel=args.loglevel or settings.log_level, override_logging=False)
    metrics.serve(args.metrics_port or settings.metrics_port, settings.metrics_host, "worker")
    # Full passes of the collector walked every queue's state and estimators: 56-204 ms with the
    # event loop stopped, every 6 s at 200 commands/s over 100 queues (bench, followers phase).
    collector.settle(FULL_GC_EVERY)
    worker.execute_from_commandline()
    return 0
