"""A rebuild split over processes: every queue falls in exactly one share, the same in every
process (a stable hash, not Python's per-process salted one), and the shares are not lopsided."""

from __future__ import annotations

import subprocess
import sys
import uuid

from projections.rebuild import in_share

QUEUES = [str(uuid.UUID(int=n * 7919 + 1)) for n in range(2000)]


def test_every_queue_is_in_exactly_one_share() -> None:
    for n in (1, 2, 3, 4):
        for queue_id in QUEUES:
            assert sum(in_share(queue_id, (k, n)) for k in range(n)) == 1


def test_the_shares_are_about_even() -> None:
    sizes = [sum(in_share(q, (k, 4)) for q in QUEUES) for k in range(4)]
    assert min(sizes) > 0.8 * len(QUEUES) / 4, sizes


def test_another_process_puts_a_queue_in_the_same_share() -> None:
    mine = [k for q in QUEUES[:50] for k in range(3) if in_share(q, (k, 3))]
    script = (
        "import uuid; from projections.rebuild import in_share; "
        "print([k for n in range(50) for k in range(3) "
        "if in_share(str(uuid.UUID(int=n * 7919 + 1)), (k, 3))])"
    )
    found = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == str(mine)
