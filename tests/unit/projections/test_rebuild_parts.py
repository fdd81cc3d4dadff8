"""A rebuild split over processes deals the queues by their number of events: every queue in
exactly one part, and no part far above an even split when queues differ by orders of magnitude
(a hash of the id would give one part the long line and most of the work)."""

from __future__ import annotations

import random

from projections.parallel import deal


def test_every_queue_is_in_exactly_one_part() -> None:
    versions = {f"q{n}": n * 13 % 97 + 1 for n in range(500)}
    for parts in (1, 2, 3, 4):
        dealt = deal(versions, parts)
        assert len(dealt) == parts
        assert sorted(q for part in dealt for q in part) == sorted(versions)


def test_a_long_line_gets_a_part_to_itself_and_the_rest_is_shared() -> None:
    rng = random.Random(5)
    versions = {"long": 100_000, **{f"q{n}": rng.randint(500, 5000) for n in range(20)}}
    small = sum(versions.values()) - versions["long"]
    dealt = deal(versions, 2)
    loads = sorted(sum(versions[q] for q in part) for part in dealt)
    assert loads[1] == versions["long"]  # alone: it is larger than all the others together
    assert loads[0] == small


def test_the_parts_are_within_a_third_of_an_even_split() -> None:
    rng = random.Random(9)
    versions = {f"q{n}": int(rng.paretovariate(1.2) * 100) for n in range(300)}
    for parts in (2, 3, 4):
        loads = [sum(versions[q] for q in part) for part in deal(versions, parts)]
        even = max(sum(versions.values()) / parts, max(versions.values()))
        assert max(loads) <= 4 / 3 * even, (parts, loads, even)


def test_fewer_queues_than_processes_leaves_no_empty_part() -> None:
    assert deal({"a": 3}, 4) == [{"a"}]
    assert deal({}, 2) == []
