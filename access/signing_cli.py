"""`vq signing-keys`: the keys access tokens are signed with (list, rotate)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `signing-keys` subcommands."""
