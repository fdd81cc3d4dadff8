"""The stack's ports are kept out of the kernel's choice of source ports (a retrying client
would otherwise connect to itself on a stopped server's port and hold it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy import procs


def test_ports_are_added_to_what_is_reserved_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reserved = tmp_path / "ip_local_reserved_ports"
    reserved.write_text("8080,50000-50010\n")
    monkeypatch.setattr(procs, "RESERVED_PORTS", reserved)
    assert procs.reserve_ports([55432, 50005, 8080, 56379])
    assert reserved.read_text() == "8080,50000-50010,55432,56379"
    assert procs.reserve_ports([55432])  # already there: unchanged
    assert reserved.read_text() == "8080,50000-50010,55432,56379"


def test_a_kernel_that_refuses_is_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(procs, "RESERVED_PORTS", tmp_path / "missing" / "file")
    assert not procs.reserve_ports([55432])
