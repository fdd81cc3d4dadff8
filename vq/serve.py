"""`vq api`: serve the HTTP API."""

from __future__ import annotations

import argparse
import sys

from core.settings import get_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    api = sub.add_parser("api", help="serve the HTTP API (commands and queries)")
    api.add_argument("--host", default=None)
    api.add_argument("--port", type=int, default=None)
    api.add_argument("--workers", type=int, default=1)
    api.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()  # a bad VQ_* variable stops here, in one line
    if settings.clock_start is not None or settings.clock_speed != 1.0:
        start = settings.clock_start.isoformat() if settings.clock_start else "the real time"
        print(
            f"vq api: accelerated clock from {start}, {settings.clock_speed:g}x real time",
            file=sys.stderr,
            flush=True,
        )
    uvicorn.run(
        "vq.api:app_factory",
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        workers=args.workers,
        log_level="info",
        access_log=False,
        # Open SSE streams must not keep a stopping API alive: they are cut after this, and
        # clients reconnect (to another replica) with Last-Event-ID.
        timeout_graceful_shutdown=5,
        factory=True,
    )
    return 0
