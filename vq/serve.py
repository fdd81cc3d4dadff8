"""`vq api`: serve the HTTP API."""

from __future__ import annotations

import argparse
import contextlib
import resource
import signal
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from core.settings import get_settings
from observability import metrics
from observability.logs import configure_logging

# TLS 1.2 at least (1.3 is what OpenSSL agrees first when the client can); for 1.2, forward
# secrecy and AEAD ciphers only (Mozilla's "intermediate" profile). TLS 1.3 suites are all good.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!DSS"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    api = sub.add_parser("api", help="serve the HTTP API (commands and queries)")
    api.add_argument("--host", default=None)
    api.add_argument("--port", type=int, default=None)
    api.add_argument("--workers", type=int, default=1)
    api.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from http_api.server_protocol import HttpProtocol

    settings = get_settings()  # a bad VQ_* variable stops here, in one line
    configure_logging("api", settings)
    if (settings.tls_cert is None) != (settings.tls_key is None):
        print("vq api: set both VQ_TLS_CERT and VQ_TLS_KEY (or neither)", file=sys.stderr)
        return 2
    if settings.clock_start is not None or settings.clock_speed != 1.0:
        start = settings.clock_start.isoformat() if settings.clock_start else "the real time"
        print(
            f"vq api: accelerated clock from {start}, {settings.clock_speed:g}x real time",
            file=sys.stderr,
            flush=True,
        )
    # uvicorn stops gracefully on SIGTERM, then raises it again with the handler it found: this
    # one, so a stop that was asked for exits 0, not "killed by SIGTERM" (and before uvicorn
    # handles it, during the start, SIGTERM stops the process at once, as it would have).
    signal.signal(signal.SIGTERM, _stopped)
    _raise_open_files()
    if args.workers > 1:  # one /metrics adds up every worker process's counts
        metrics.share_between_processes()
    uvicorn.run(
        "vq.api:app_factory",
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        workers=args.workers,
        log_level=settings.log_level,
        log_config=None,  # ours (configure_logging), in this process and in each worker's app
        access_log=False,  # observability/logs.py RequestLog writes a line per command instead
        # For requests under way when the API is told to stop. Live streams do not wait for it:
        # they end at once, between two events (vq/api.py), and their clients reconnect (to
        # another replica) with Last-Event-ID.
        timeout_graceful_shutdown=5,
        timeout_keep_alive=settings.keep_alive_s,
        # uvicorn's httptools protocol, plus a deadline (10 s) and a cap (64 KiB) for a request's
        # line and headers, and problem+json for requests that are not valid HTTP/1.1.
        http=HttpProtocol,
        # Thousands of live followers may (re)connect at once (after another replica stopped).
        backlog=4096,
        # No per-message compression of WebSocket frames: it is a deflate per message per
        # connection (a view is a few hundred bytes), 7 % of the API's CPU with 1,000 of 10,000
        # followers on WebSockets (`make bench`, followers phase); a proxy may compress.
        ws_per_message_deflate=False,
        # X-Forwarded-For names the client only behind a proxy the operator says it runs.
        proxy_headers=settings.trust_forwarded_for,
        factory=True,
        **_tls(settings.tls_cert, settings.tls_key),
    )
    return 0


def _raise_open_files() -> None:
    """Every live follower is a socket: the soft limit of open files (often 1,024) up to the
    hard one, as a service manager would set it (deploy/systemd sets LimitNOFILE)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))


def _stopped(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _tls(cert: Path | None, key: Path | None) -> dict[str, Any]:
    """uvicorn's TLS arguments: none (plain HTTP, behind a proxy that ends TLS), or the files
    and the factory that hardens uvicorn's context (a module-level function: `--workers` sends
    it to each worker process by name)."""
    if cert is None or key is None:
        return {}
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key), "ssl_context_factory": tls_context}


def tls_context(_config: object, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's context (the certificate chain, the ALPN protocols), hardened."""
    return harden(default())


def harden(context: ssl.SSLContext) -> ssl.SSLContext:
    """TLS 1.2 or newer, no compression (CRIME), no renegotiation, strong 1.2 ciphers."""
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.set_ciphers(TLS12_CIPHERS)
    return context
