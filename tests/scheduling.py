"""The order in which `make test`'s workers take the test files: the longest first.

pytest-xdist (`--dist loadgroup`) hands a worker one group of tests at a time (a test file, or
every browser test), in the order the groups are collected; its own reordering (by number of
tests, on by default) puts the files of one long scenario test last, so a worker could start a
two-minute fuzzer when the other had nothing left (`make test` runs `--no-loadscope-reorder`).
Longest first, the short files fill the end on both workers.

The seconds are one `make test PYTEST_ARGS=--durations=0` run's (2026-12-05, this project's
2-core machine), summed per group and rounded: a hint for the order, never a limit. A group not
named here is short and keeps its collected place after these.
"""

from __future__ import annotations

SECONDS = {
    "browser": 290,
    "openapi-fuzz-admin": 125,
    "tests/integration/test_read_side_scenario.py": 123,
    "tests/integration/test_bad_input.py": 106,
    "openapi-fuzz-roles": 85,
    "tests/integration/test_faults.py": 84,
    "tests/integration/test_live_simulation.py": 52,
    "tests/unit/simulation/test_staffing.py": 46,
    "tests/integration/test_notifications_crash.py": 45,
    "tests/integration/test_queue_files.py": 37,
    "tests/integration/test_live_finish_day.py": 33,
    "tests/integration/test_streams.py": 32,
    "tests/integration/test_notifications_flow.py": 29,
    "tests/integration/test_concurrency.py": 29,
    "tests/integration/test_access_people.py": 27,
    "tests/integration/test_access_matrix.py": 26,
    "tests/integration/test_access_brute_force.py": 26,
    "tests/integration/test_prometheus.py": 25,
    "tests/integration/test_backup.py": 25,
    "tests/deploy/test_stack_recovery.py": 25,
    "tests/integration/test_webhooks_flow.py": 23,
    "tests/integration/test_fanout.py": 22,
    "tests/integration/test_dead_letters.py": 21,
    "tests/integration/test_supervision.py": 20,
    "tests/integration/test_live_resume.py": 20,
    "tests/integration/test_rate_limits.py": 18,
    "tests/integration/test_network_day.py": 16,
    "tests/integration/test_live_revocation.py": 16,
    "tests/integration/test_access_tokens.py": 16,
    "tests/integration/test_access_sso.py": 16,
    "tests/integration/test_schema_registry.py": 15,
}


def seconds(group: str) -> int:
    """About how long a group of tests takes in `make test` (0: short, or not measured)."""
    return SECONDS.get(group, 0)
