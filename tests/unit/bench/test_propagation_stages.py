"""The propagation phase's split of the read path: answer -> Kafka (relay), Kafka -> pub/sub
(worker), from the arrivals the observer recorded (bench/propagation.py)."""

from __future__ import annotations

from bench.propagation import _arrivals, _stages, delays, timeline

# (queue, version it answered, when the answer arrived)
COMMANDS = [("a", 1, 10.0), ("a", 2, 10.5), ("b", 1, 11.0), ("c", 1, 12.0)]


def test_a_command_is_seen_with_the_first_version_at_least_its_own() -> None:
    seen = [["a", 2, 10.9], ["b", 3, 11.4], ["a", 1, 10.2]]
    # a@1 arrived at 10.2; a@2 at 10.9; b@1 only as b@3 (a batch); c never.
    assert _arrivals(COMMANDS, seen) == [10.2, 10.9, 11.4, None]


def test_an_older_version_arriving_later_says_nothing_new() -> None:
    seen = [["a", 2, 10.6], ["a", 1, 10.8]]
    assert _arrivals(COMMANDS[:2], seen) == [10.6, 10.6]


def test_delays_count_the_unseen_and_clip_an_arrival_before_the_answer_to_zero() -> None:
    seen = [["a", 1, 9.9], ["a", 2, 10.9], ["b", 1, 11.25]]
    found, unseen = delays(COMMANDS, _arrivals(COMMANDS, seen))
    assert [round(d, 3) for d in found] == [0.0, 0.4, 0.25]
    assert unseen == 1


def test_stages_split_each_command_where_kafka_had_it() -> None:
    kafka = [["a", 1, 10.01], ["a", 2, 10.52], ["b", 1, 11.1]]
    pubsub = [["a", 2, 10.7], ["b", 1, 11.3]]
    stages = _stages(COMMANDS, _arrivals(COMMANDS, kafka), _arrivals(COMMANDS, pubsub))
    # a@1: 10 -> 10.01 -> 10.7 (published with a@2); a@2: 10.5 -> 10.52 -> 10.7;
    # b@1: 11 -> 11.1 -> 11.3; c@1 reached neither: left out of both.
    assert stages["relay"]["n"] == stages["worker"]["n"] == 3
    assert stages["relay"]["max"] == 100.0
    assert stages["worker"]["max"] == 690.0
    assert stages["worker"]["p50"] == 200.0


def test_a_command_kafka_never_showed_is_left_out_of_the_split() -> None:
    stages = _stages(COMMANDS[:1], [None], [10.3])
    assert stages["relay"]["n"] == stages["worker"]["n"] == 0


def test_the_timeline_shows_a_stall_by_when_the_commands_were_answered() -> None:
    # Answered at 10.0, 10.5, 11.0, 12.0 (COMMANDS); a@1 and a@2 seen at once 1.5 s after a@1
    # (a stall), b@1 0.1 s after its answer, c@1 never.
    seen = [["a", 2, 11.5], ["b", 1, 11.1]]
    rows = timeline(COMMANDS, _arrivals(COMMANDS, seen), bucket_s=1.0)
    assert [row["t"] for row in rows] == [0.0, 1.0, 2.0]
    assert [(row["n"], row["unseen"]) for row in rows] == [(2, 0), (1, 0), (0, 1)]
    assert rows[0]["max_ms"] == 1500.0 and rows[0]["p50_ms"] >= 1000.0
    assert rows[1]["max_ms"] == 100.0
    assert rows[2]["p99_ms"] is None
    assert timeline([], []) == []
