"""`vq`'s command line imports only the module of the command asked for, and that module adds
exactly the commands the table names (so no command is missing when one alone is imported)."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from vq.cli import _REGISTRARS, build_parser, registrar_of


@pytest.mark.parametrize("module", sorted(_REGISTRARS))
def test_each_module_adds_exactly_the_commands_named_for_it(module: str) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    importlib.import_module(module).register(sub)
    assert set(sub.choices) == set(_REGISTRARS[module])


def test_every_command_has_one_module_and_help_lists_them_all() -> None:
    commands = [name for names in _REGISTRARS.values() for name in names]
    assert len(commands) == len(set(commands))
    assert all(registrar_of(name) is not None for name in commands)
    assert registrar_of(None) is None and registrar_of("--help") is None
    listed = build_parser().format_help()
    assert all(name in listed for name in commands)


def test_the_relay_command_imports_neither_the_api_nor_the_simulator() -> None:
    probe = (
        "import sys; from vq.cli import main\n"
        "try:\n    main(['relay', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('vq.api', 'simulation.cli', 'fastapi') if m in sys.modules))"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().splitlines()[-1] == "[]", ran.stdout
