"""`vq signing-keys`: the keys access tokens are signed with (list, rotate)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from core.settings import get_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `signing-keys` subcommands."""
    keys = sub.add_parser("signing-keys", help="the keys access tokens are signed with")
    verbs = keys.add_subparsers(dest="signing_command", metavar="ACTION", required=True)
    listing = verbs.add_parser("list", help="the stored keys and what each does now")
    listing.set_defaults(func=_list)
    rotate = verbs.add_parser(
        "rotate",
        help="add the next key; the current one keeps verifying until its tokens expire",
        description="Add a new signing key. It is published at once and signs after a short "
        "delay (so every API replica knows it first); the current key then retires but keeps "
        "verifying until every token it signed has expired: nobody is signed out.",
    )
    rotate.add_argument(
        "--now",
        action="store_true",
        help="sign with the new key at once (replicas that have not reloaded their keys refuse "
        "its tokens for a few seconds)",
    )
    rotate.set_defaults(func=_rotate)


def _list(args: argparse.Namespace) -> int:
    from access.signing_keys import load_keys
    from eventstore.pool import open_pool

    settings = get_settings()

    async def main() -> int:
        pool = await open_pool(settings, min_size=1, max_size=1, wait=True)
        try:
            keys = await load_keys(pool, settings, everything=True)
        finally:
            await pool.close()
        if not keys:
            print("no signing keys yet (the API makes the first one when it first signs)")
            return 0
        now = datetime.now(UTC)
        print(f"{'kid':<45} {'state':<8} {'signs from':<26} retired at")
        for key in keys:
            retired = key.retired_at.isoformat(timespec="seconds") if key.retired_at else "-"
            print(
                f"{key.kid:<45} {key.state(now, settings):<8} "
                f"{key.active_from.isoformat(timespec='seconds'):<26} {retired}"
                + ("" if key.private_key is not None else "  (cannot be unsealed here)")
            )
        return 0

    return asyncio.run(main())


def _rotate(args: argparse.Namespace) -> int:
    from access.signing_keys import PUBLISH_AHEAD_S, rotate_keys
    from eventstore.pool import open_pool

    settings = get_settings()

    async def main() -> int:
        pool = await open_pool(settings, min_size=1, max_size=1, wait=True)
        try:
            ahead = 0.0 if args.now else PUBLISH_AHEAD_S
            kid, active_from = await rotate_keys(pool, settings, ahead_s=ahead)
        finally:
            await pool.close()
        print(f"new signing key {kid}: signs from {active_from.isoformat(timespec='seconds')}")
        return 0

    return asyncio.run(main())
