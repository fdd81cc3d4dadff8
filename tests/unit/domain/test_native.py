"""The estimators' compiled modules (setup.py, domain/estimation/native.py): built where the
build can, the same results as their source, and never run once the source changed."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from domain.estimation import native

ROOT = Path(__file__).resolve().parents[3]

# A day of the cold start folded by the estimators, its figures in full precision (every range
# given at enqueue counts in them), and which form the modules ran in.
DAY = """
from domain.estimation import native
from simulation.offline import run
from simulation.scenario import load

result = run(load("cold_start"), days=1, seed=1, oracle=False)
print(native.compiled())
print(sorted((name, repr(figures)) for name, figures in result.figures.items()))
print(sorted(result.served_by.items()), result.events)
"""


def _day(pure: bool) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "VQ_PURE_PYTHON"}
    if pure:
        env["VQ_PURE_PYTHON"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", DAY], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_setup_compiles_the_modules_the_package_names() -> None:
    tree = ast.parse((ROOT / "setup.py").read_text())
    listed = next(
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "NATIVE" for t in node.targets)
    )
    assert tuple(listed) == native.NATIVE


@pytest.mark.skipif(
    os.environ.get("VQ_PURE_PYTHON", "") not in ("", "0")
    or shutil.which("cc") is None
    or not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists()
    or importlib.util.find_spec("mypyc") is None,
    reason="asked for plain Python, or no C compiler, Python headers or mypyc to build with",
)
def test_the_modules_run_compiled_where_the_build_can() -> None:
    assert native.compiled(), "`make venv` compiles them (setup.py)"


def test_compiled_and_source_fold_a_day_to_the_same_figures() -> None:
    compiled, source = _day(pure=False), _day(pure=True)
    assert source[0] == "False"
    if compiled[0] != "True":
        pytest.skip("the modules are not compiled here")
    assert compiled[1:] == source[1:]
    assert "within" in compiled[1]  # the figures are there to compare


def test_a_module_compiled_from_another_source_is_stale(tmp_path: Path) -> None:
    suffix = native.EXTENSION_SUFFIXES[0]
    for name in ("fresh", "edited", "unrecorded"):
        (tmp_path / f"{name}.py").write_text("x = 1\n")
        (tmp_path / f"{name}{suffix}").write_bytes(b"")
    (tmp_path / "plain.py").write_text("x = 1\n")  # never compiled: not stale
    digest = hashlib.sha256(b"x = 1\n").hexdigest()
    (tmp_path / native.RECORD).write_text(json.dumps({"fresh": digest, "edited": digest}))
    (tmp_path / "edited.py").write_text("x = 2\n")  # edited after the build
    assert native.stale(tmp_path) == ["edited", "unrecorded"]  # plain: never compiled
    os.utime(tmp_path / "fresh.py")  # touched, not changed: still the source compiled
    assert native.stale(tmp_path) == ["edited", "unrecorded"]
    (tmp_path / native.RECORD).unlink()  # no record at all: none can be trusted
    assert native.stale(tmp_path) == ["edited", "fresh", "unrecorded"]
