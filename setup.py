"""The package is described in pyproject.toml; this file adds one thing: the wait-time
estimators' hottest modules compiled to C by mypyc (the same typed source, made native), when
the build has mypy and a C compiler. Without them, or with VQ_PURE_PYTHON=1, the same modules
run as plain Python: the results are the same, only slower. `domain/estimation/native.py` says
which it is and refuses a compiled module older than its source.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup

# Kept in step with domain/estimation/native.py's NATIVE (a test checks); modules whose classes
# are pickled with the fold must keep them copyable as native classes (see renewal.Lag).
NATIVE = ("projection", "renewal", "stats", "outlook")


def _native() -> list[object]:
    if os.environ.get("VQ_PURE_PYTHON", "") not in ("", "0"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:  # no mypy in the build environment: plain Python
        return []
    sources = [f"domain/estimation/{name}.py" for name in NATIVE]
    try:
        extensions = mypycify(sources, opt_level="3", group_name="vq_native")
    except (Exception, SystemExit) as why:  # mypyc refused them (a type it cannot compile)
        print(f"setup.py: estimators not compiled ({why!r}); plain Python", file=sys.stderr)
        return []
    for extension in extensions:
        extension.optional = True  # no C compiler: a warning, and plain Python
    return list(extensions)


setup(ext_modules=_native())
