"""Which form the estimators' hottest modules run in: compiled or plain Python.

`setup.py` compiles NATIVE to C with mypyc when the build has mypy and a C compiler (the same
typed source, made native: the same arithmetic in the same order, so the same estimates; about
1.5x faster estimators, measured in bench/README.md). Imported first by the package, this module
(`choose()` runs as it is imported) makes the compiled forms step aside for their source, all of
the package's at once (they call each other natively), when:

* `VQ_PURE_PYTHON` is set (other than 0): to profile them line by line, or to compare; or
* a compiled module's source changed since it was built (the build records each source's
  digest in RECORD), or the build did not record it (left by an older build that compiled more):
  the compiled one would run other code. A warning says so (`make venv` compiles them again).

Nothing is imported here but the standard library: this runs before the estimators exist.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Final

# setup.py lists the same modules (tests/unit/domain/test_native.py checks).
NATIVE: Final = ("projection", "renewal", "stats", "outlook")
PACKAGE: Final = "domain.estimation"
HERE: Final = Path(__file__).resolve().parent
# Written by the build beside the compiled modules: {module: sha256 of the source compiled}.
RECORD: Final = "native-sources.json"
EXTENSION_SUFFIXES: Final = tuple(importlib.machinery.EXTENSION_SUFFIXES)


def compiled_here(folder: Path = HERE) -> list[str]:
    """The modules with a compiled file in the folder: NATIVE's, and any left by an older
    build that compiled more of them."""
    return sorted(
        {
            path.name.split(".")[0]
            for suffix in EXTENSION_SUFFIXES
            for path in folder.glob(f"*{suffix}")
        }
    )


def stale(folder: Path = HERE) -> list[str]:
    """The modules compiled there from another source than the one beside them, or from one
    the build did not record."""
    try:
        recorded = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        recorded = {}
    return [
        name
        for name in compiled_here(folder)
        if (source := folder / f"{name}.py").exists()
        and recorded.get(name) != hashlib.sha256(source.read_bytes()).hexdigest()
    ]


class _FromSource(importlib.abc.MetaPathFinder):
    """Finds `names` (modules of this package) as their `.py` files, ahead of compiled ones."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != PACKAGE or name not in self.names:
            return None
        return importlib.util.spec_from_file_location(fullname, HERE / f"{name}.py")


def choose() -> None:
    """Run every compiled module of this package from source when asked to or when one is
    stale (see above)."""
    if any(isinstance(finder, _FromSource) for finder in sys.meta_path):
        return
    asked = os.environ.get("VQ_PURE_PYTHON", "") not in ("", "0")
    old = stale()
    if old:
        warnings.warn(
            f"{PACKAGE}: {', '.join(old)} compiled from another source; running the source "
            "(`make venv` compiles it again)",
            RuntimeWarning,
            stacklevel=2,
        )
    if asked or old:
        sys.meta_path.insert(0, _FromSource(set(compiled_here())))


def compiled() -> bool:
    """Whether NATIVE run compiled in this process (every one of them)."""
    for name in NATIVE:
        module = importlib.import_module(f"{PACKAGE}.{name}")
        if not str(getattr(module, "__file__", "")).endswith(EXTENSION_SUFFIXES):
            return False
    return True


choose()
