"""`vq deadletters list|replay`: the events topic's dead letters, shown and re-driven."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from core.settings import get_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "deadletters",
        help="records of the events topic that the workers could not decode or apply",
        description="Dead letters: each is the original record plus why and where it came from "
        "(topics/deadletters.py). Pending: not replayed yet.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="show the pending dead letters, one JSON a line")
    listing.add_argument("--all", action="store_true", help="also those already replayed")
    listing.add_argument("--limit", type=int, default=1000)
    listing.set_defaults(func=_list)
    again = actions.add_parser(
        "replay", help="write the pending dead letters back to their topic, as they were"
    )
    again.add_argument("--limit", type=int, default=1000)
    again.set_defaults(func=_replay)


def _list(args: argparse.Namespace) -> int:
    from topics.deadletter_kafka import list_dead_letters

    settings = get_settings()
    try:
        found = asyncio.run(
            list_dead_letters(settings, pending_only=not args.all, limit=args.limit)
        )
    except LookupError as exc:
        print(f"vq deadletters: {exc}", file=sys.stderr)
        return 1
    for letter in found:
        print(json.dumps(letter.as_dict(), sort_keys=True))
    what = "dead letters" if args.all else "pending dead letters"
    print(f"{len(found)} {what} on {settings.events_dead_letter_topic}", file=sys.stderr)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from topics.deadletter_kafka import ReplayRefused, replay

    settings = get_settings()
    try:
        found = asyncio.run(replay(settings, limit=args.limit))
    except (LookupError, ReplayRefused) as exc:
        print(f"vq deadletters: {exc}", file=sys.stderr)
        return 1
    for letter in found:
        origin = letter.origin
        print(
            f"replayed {letter.partition}/{letter.offset} to {origin.topic} "
            f"(was {origin.partition}/{origin.offset}, {letter.stage}: {letter.error[:120]})"
        )
    print(f"{len(found)} dead letters replayed", file=sys.stderr)
    return 0
