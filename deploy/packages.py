"""Installing the Debian packages the stack runs from: only the missing ones, one apt-get update."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from deploy.errors import StackError

_POLICY = Path("/usr/sbin/policy-rc.d")


@contextlib.contextmanager
def _services_not_started() -> Iterator[None]:
    """Stop the packages' maintainer scripts from starting the *system* PostgreSQL and Redis.

    We only want the binaries; our own instances run from the data folder. A policy-rc.d that exits
    101 is Debian's documented way to say "do not start services" (Docker images ship one). One that
    already exists is left alone.
    """
    if _POLICY.exists():
        yield
        return
    _POLICY.write_text("#!/bin/sh\n# from `vq stack up`, during an install\nexit 101\n")
    _POLICY.chmod(0o755)
    try:
        yield
    finally:
        _POLICY.unlink(missing_ok=True)


def _apt(args: Sequence[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Output is not captured: a slow download should be visible while it happens.
    code = subprocess.run(list(args), env=env, stdin=subprocess.DEVNULL, check=False).returncode
    if code != 0:
        raise StackError(
            f"`{' '.join(args)}` failed (exit {code}), see its output above; check the network or "
            "the apt sources, or install the packages by hand"
        )


def install(packages: Sequence[str]) -> None:
    """apt-get install the given packages (nothing to do for an empty list)."""
    if not packages:
        return
    names = " ".join(packages)
    if shutil.which("apt-get") is None:
        raise StackError(f"{names} not installed and there is no apt-get; install them by hand")
    if os.geteuid() != 0:
        raise StackError(
            f"{names} not installed; run `sudo apt-get install -y --no-install-recommends {names}` "
            "(or run `vq stack up` as root)"
        )
    print(f"installing {names} from Debian's packages...", flush=True)
    with _services_not_started():
        _apt(["apt-get", "update", "-q"])
        _apt(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages])
