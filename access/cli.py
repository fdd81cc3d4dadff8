"""`vq audit verify`: check the audit trail's hash chain end to end."""

from __future__ import annotations

import argparse
import asyncio

from core.settings import get_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="the security audit trail")
    verbs = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = verbs.add_parser("verify", help="check that no entry was edited or deleted")
    verify.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    from access.audit_store import verify
    from eventstore.pool import open_pool

    async def main() -> int:
        pool = await open_pool(get_settings(), min_size=1, max_size=1, wait=True)
        try:
            checked, broken = await verify(pool)
        finally:
            await pool.close()
        if broken is not None:
            print(f"vq audit verify: {broken} (the {checked} entries before it are intact)")
            return 1
        print(f"audit trail intact: {checked} entries")
        return 0

    return asyncio.run(main())
