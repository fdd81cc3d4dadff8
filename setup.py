"""The package is described in pyproject.toml; this file adds one thing: the wait-time
estimators' hottest modules compiled to C by mypyc (the same typed source, made native), when
the build has mypy and a C compiler. Without them, or with VQ_PURE_PYTHON=1, the same modules
run as plain Python: the results are the same, only slower. Next to the compiled modules the
build writes the digest of the source each was compiled from (`RECORD`):
`domain/estimation/native.py` runs the source instead of a compiled module whose source changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

# Kept in step with domain/estimation/native.py's NATIVE (a test checks); modules whose classes
# are pickled with the fold must keep them copyable as native classes (see renewal.Lag).
NATIVE = ("projection", "renewal", "stats", "outlook")
PACKAGE = Path("domain") / "estimation"
RECORD = "native-sources.json"


def _native() -> list[object]:
    if os.environ.get("VQ_PURE_PYTHON", "") not in ("", "0"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:  # no mypy in the build environment: plain Python
        return []
    sources = [str(PACKAGE / f"{name}.py") for name in NATIVE]
    try:
        extensions = mypycify(sources, opt_level="3", group_name="vq_native")
    except (Exception, SystemExit) as why:  # mypyc refused them (a type it cannot compile)
        print(f"setup.py: estimators not compiled ({why!r}); plain Python", file=sys.stderr)
        return []
    for extension in extensions:
        extension.optional = True  # no C compiler: a warning, and plain Python
    return list(extensions)


class _BuildAndRecord(build_ext):  # type: ignore[misc]
    """Builds the extensions, then records which source each compiled module was built from,
    in the folder the compiled modules went to (the sources in place, or the wheel's)."""

    def run(self) -> None:
        super().run()
        folder = Path(self.get_ext_fullpath("domain.estimation.projection")).parent
        built = {
            name: hashlib.sha256((PACKAGE / f"{name}.py").read_bytes()).hexdigest()
            for name in NATIVE
            if Path(self.get_ext_fullpath(f"domain.estimation.{name}")).exists()
        }
        if built:
            (folder / RECORD).write_text(json.dumps(built, indent=1, sort_keys=True) + "\n")


setup(ext_modules=_native(), cmdclass={"build_ext": _BuildAndRecord})
