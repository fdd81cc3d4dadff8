"""`vq backup run|base|status|reclaim` and `vq restore`. Expected failures: one line, exit 1."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from deploy.errors import StackError

Action = Callable[[argparse.Namespace], int]
FOLDER_VARIABLE = "VQ_BACKUP_DIR"
DB_VARIABLE = "VQ_BACKUP_DATABASE_URL"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = sub.add_parser(
        "backup",
        help="back up the event store: base backups and WAL streamed into a folder",
        description="Base backups (pg_basebackup) and the WAL streamed continuously "
        "(pg_receivewal) into one folder; `vq restore` recovers from it.",
    )
    actions = backup.add_subparsers(dest="backup_command", metavar="ACTION", required=True)
    run = _action(actions, "run", "stream the WAL and take base backups until stopped", _run)
    run.add_argument(
        "--every",
        type=_positive(float),
        default=24.0,
        metavar="HOURS",
        help="hours between two base backups (default 24)",
    )
    run.add_argument(
        "--keep",
        type=_positive(int),
        default=3,
        metavar="N",
        help="base backups kept, with the WAL they need (default 3)",
    )
    _action(actions, "base", "take one base backup now (the WAL streams only under `run`)", _base)
    _action(actions, "status", "what the folder holds and until when it restores", _status)
    reclaim = _action(
        actions,
        "reclaim",
        "after a restore, put back the events Kafka has beyond the restored store",
        _reclaim,
        folder=False,
    )
    reclaim.add_argument("--dry-run", action="store_true", help="only say what it would append")
    reclaim.add_argument(
        "--margin",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="read Kafka from this long before the newest restored event",
    )

    _register_restore(sub)


def _register_restore(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    restore = sub.add_parser(
        "restore",
        help="recover the event store from a backup folder into a new data directory",
        description="Point-in-time recovery from `vq backup`'s folder: the latest point, or "
        "--to a moment. Then follow the README's runbook (Backups and disaster recovery).",
    )
    restore.add_argument(
        "--from",
        dest="folder",
        type=Path,
        default=_env_path(FOLDER_VARIABLE),
        metavar="DIR",
        help=f"the backup folder (default ${FOLDER_VARIABLE})",
    )
    restore.add_argument(
        "--data",
        type=Path,
        required=True,
        metavar="NEWDIR",
        help="the data directory to create (must not exist, or be empty)",
    )
    restore.add_argument(
        "--to",
        dest="target",
        type=_moment,
        metavar="TIME",
        help="recover up to this moment, ISO 8601 with an offset "
        "(2026-12-02T09:30:00+01:00); default: the latest point",
    )
    restore.add_argument(
        "--republish",
        choices=("pending", "all"),
        default="pending",
        help="pending (default): the relay publishes what it had not, from its "
        "restored checkpoint; all: from the first event (Kafka's topic is new)",
    )
    restore.set_defaults(func=_guarded(_restore))


def _action(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    func: Action,
    *,
    folder: bool = True,
) -> argparse.ArgumentParser:
    parser = actions.add_parser(name, help=help_text, description=help_text)
    if folder:
        parser.add_argument(
            "--to",
            dest="folder",
            type=Path,
            default=_env_path(FOLDER_VARIABLE),
            metavar="DIR",
            help=f"the backup folder (default ${FOLDER_VARIABLE})",
        )
        parser.add_argument(
            "--db",
            default=os.environ.get(DB_VARIABLE),
            metavar="URL",
            help=f"a role WITH REPLICATION (default ${DB_VARIABLE}, else the "
            "native stack's superuser over its socket)",
        )
    parser.set_defaults(func=_guarded(func))
    return parser


def _env_path(variable: str) -> Path | None:
    value = os.environ.get(variable)
    return Path(value) if value else None


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
        return value

    return parse


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset: add Z or +01:00")
    return moment


def _guarded(func: Action) -> Action:
    def run(args: argparse.Namespace) -> int:
        try:
            if hasattr(args, "folder") and args.folder is None:
                raise StackError(f"name the backup folder: --to/--from DIR or ${FOLDER_VARIABLE}")
            return func(args)
        except StackError as exc:
            print(f"vq {args.command}: {exc.message}", file=sys.stderr, flush=True)
            return 1

    return run


def _say(line: str) -> None:
    print(line, flush=True)


def _context(args: argparse.Namespace) -> tuple[Any, Any]:
    from core.settings import get_settings
    from deploy.backup import pg
    from deploy.backup.folder import BackupFolder

    return pg.source(get_settings(), args.db), BackupFolder(args.folder)


def _run(args: argparse.Namespace) -> int:
    from deploy.backup import runner

    src, folder = _context(args)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    schedule = runner.Schedule(every_s=args.every * 3600, keep=args.keep)
    return runner.run(src, folder, schedule, stop, _say)


def _base(args: argparse.Namespace) -> int:
    from deploy.backup import base

    src, folder = _context(args)
    made = base.take(src, folder)
    _say(f"base backup {made.name}: {made.bytes / 1e6:,.1f} MB in {folder.path(made)}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from deploy.backup.folder import BackupFolder
    from deploy.backup.status import describe

    lines, healthy = describe(BackupFolder(args.folder))
    for line in lines:
        _say(line)
    return 0 if healthy else 1


def _restore(args: argparse.Namespace) -> int:
    from core.settings import get_settings
    from deploy.backup.aftermath import restore_and_report

    return restore_and_report(
        get_settings(), args.folder, args.data, args.target, args.republish, _say
    )


def _reclaim(args: argparse.Namespace) -> int:
    import asyncio

    from aiokafka.errors import KafkaError

    from core.settings import get_settings
    from deploy.backup.reclaim import reclaim_and_report
    from eventstore.errors import StoreUnavailable

    try:
        return asyncio.run(reclaim_and_report(get_settings(), args.margin, args.dry_run, _say))
    except (KafkaError, StoreUnavailable, OSError) as exc:
        raise StackError(f"cannot reach Kafka or PostgreSQL: {exc}") from exc
