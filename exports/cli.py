"""`vq data export|import`: a tenant's events and tickets out of the store, and back into an
empty one (the store the settings name; `VQ_ENV=dev` for the local stack)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Final, TextIO

from psycopg import AsyncConnection, OperationalError
from psycopg.errors import UndefinedTable
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from core.settings import get_settings

FORMATS: Final = ("jsonl", "csv", "tickets-csv")
PROGRESS_EVERY_S: Final = 3.0
_NO_STORE: Final = "no event store in schema {} (run `vq db migrate` first)"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    data = sub.add_parser("data", help="export a tenant's events and tickets, import an export")
    actions = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="stream a tenant's events or tickets out")
    export.add_argument("--tenant", required=True, type=_uuid, help="the tenant's id")
    export.add_argument(
        "--format",
        choices=FORMATS,
        default="jsonl",
        help="jsonl (default: the events, one JSON object a line; what `import` reads), csv "
        "(the events, the payload a JSON column) or tickets-csv (one row a ticket)",
    )
    export.add_argument("--output", default="-", help="a file, or - for stdout (default)")
    export.set_defaults(func=_export)
    load = actions.add_parser("import", help="append a JSON-lines export into an empty store")
    load.add_argument("file", type=Path, help="the file `vq data export` wrote (jsonl)")
    load.set_defaults(func=_import)


def _uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError("not a UUID") from exc


def progress_line(label: str, unit: str) -> Callable[[int], None]:
    """Reports `done` on stderr with the rate, at most every PROGRESS_EVERY_S seconds."""
    started = last = time.monotonic()

    def show(done: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY_S:
            last = now
            rate = done / max(now - started, 1e-9)
            print(f"{label}: {done:,} {unit} ({rate:,.0f}/s)", file=sys.stderr, flush=True)

    return show


def _export(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        out: TextIO = sys.stdout
        if args.output != "-":
            out = stack.enter_context(open(args.output, "w", encoding="utf-8", newline=""))
        return asyncio.run(_export_to(args.tenant, args.format, out))


async def _export_to(tenant_id: str, format: str, out: TextIO) -> int:
    from eventstore.errors import StoreUnavailable
    from exports.events import PAGE, csv_chunks, jsonl_chunks
    from exports.tickets import tickets_csv_chunks

    makers = {"jsonl": jsonl_chunks, "csv": csv_chunks, "tickets-csv": tickets_csv_chunks}
    started, pages = time.monotonic(), 0
    show = progress_line("export", "pages" if format == "tickets-csv" else "events")
    pool = await _pool("export")
    if pool is None:
        return 1
    try:
        chunks: AsyncIterator[str] = makers[format](pool, tenant_id)
        async for chunk in chunks:
            out.write(chunk)
            pages += 1
            show(pages if format == "tickets-csv" else pages * PAGE)
    except StoreUnavailable as exc:
        print(f"vq data export: {exc}", file=sys.stderr)
        return 1
    except UndefinedTable:
        print(f"vq data export: {_NO_STORE.format(get_settings().db_schema)}", file=sys.stderr)
        return 1
    finally:
        await pool.close()
    out.flush()
    print(f"exported ({format}) in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0


async def _pool(action: str) -> AsyncConnectionPool[AsyncConnection[Any]] | None:
    """A small pool on the settings' store, or None (said on stderr) when it is not reachable."""
    from eventstore.pool import open_pool

    try:
        return await open_pool(get_settings(), min_size=1, max_size=2, wait=True)
    except (PoolTimeout, OperationalError) as exc:
        print(f"vq data {action}: PostgreSQL is not reachable ({exc})", file=sys.stderr)
        return None


def _import(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        print(f"vq data import: {args.file}: no such file", file=sys.stderr)
        return 1
    return asyncio.run(_import_from(args.file))


async def _import_from(path: Path) -> int:
    from eventstore.errors import StoreUnavailable
    from exports.importing import ImportRefused, import_file

    pool = await _pool("import")
    if pool is None:
        return 1
    try:
        report = await import_file(pool, path, progress_line("import", "events"))
    except (ImportRefused, StoreUnavailable) as exc:
        print(f"vq data import: {exc}", file=sys.stderr)
        return 1
    except UndefinedTable:
        print(f"vq data import: {_NO_STORE.format(get_settings().db_schema)}", file=sys.stderr)
        return 1
    finally:
        await pool.close()
    rate = report.events / max(report.seconds, 1e-9)
    print(
        f"imported {report.events:,} events of {report.streams} queues into schema "
        f"{get_settings().db_schema} in {report.seconds:.1f}s ({rate:,.0f} events/s)"
    )
    return 0
