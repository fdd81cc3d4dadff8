"""The README shows the permission table exactly as the code has it (`vq access table`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from access.cli import TABLE_END, TABLE_START, table_in, with_table
from access.permissions import PERMISSIONS, ROLES, table_markdown
from core.settings import REPO_ROOT
from vq.cli import main

README = REPO_ROOT / "README.md"


def test_the_readme_shows_the_table_the_code_has() -> None:
    assert table_in(README.read_text(encoding="utf-8")) == table_markdown(), (
        "the README's permission table is stale: run `vq access table --update README.md`"
    )


def test_the_table_has_a_row_per_permission_and_a_column_per_role() -> None:
    lines = table_markdown().splitlines()
    assert len(lines) == 2 + len(PERMISSIONS)
    assert all(role in lines[0] for role in ROLES)
    keys = next(line for line in lines if line.startswith("| `keys:manage`"))
    assert keys.count("yes") == 1  # admins only


def test_update_rewrites_only_between_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{TABLE_START}\nold table\n{TABLE_END}\n\nafter\n")
    assert main(["access", "table", "--update", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# Title\n\n") and text.endswith(f"{TABLE_END}\n\nafter\n")
    assert table_in(text) == table_markdown() and "old table" not in text
    assert with_table("no markers here", "t") is None
    missing = tmp_path / "OTHER.md"
    missing.write_text("nothing")
    assert main(["access", "table", "--update", str(missing)]) == 1


def test_the_command_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["access", "table"]) == 0
    assert capsys.readouterr().out.strip() == table_markdown()
