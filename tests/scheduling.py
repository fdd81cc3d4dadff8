"""How `make test` (`pytest -n N --dist loadgroup`) hands tests to its workers: a test file's
tests to one worker (their module fixtures are made once), the browser's all to one worker (one
live stack, one Chromium), in collection order: the browser's first (the longest unit), then
the deployment's and the integration tests, and the unit tests' many short files last, so the
workers end together.

A scheduler of our own (xdist's `pytest_xdist_make_scheduler` hook) rather than `xdist_group`
marks: pytest 9.2 keeps a node's id where xdist 3.8 no longer writes the group it appends, and
every test went its own way, silently (pytest-dev/pytest-xdist#1386).
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

BROWSER = "tests/browser/"


class ByFile(LoadScopeScheduling):
    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        config.option.loadscopereorder = False  # collection order, as above
        super().__init__(config, log)

    def _split_scope(self, nodeid: str) -> str:
        return BROWSER if nodeid.startswith(BROWSER) else nodeid.split("::", 1)[0]
