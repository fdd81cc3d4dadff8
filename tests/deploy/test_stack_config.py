"""The generated configurations say what the issue asks, without starting anything."""

from __future__ import annotations

import re
from pathlib import Path

from core.settings import Settings
from deploy.errors import StackError
from deploy.kafka_broker import Kafka, new_cluster_id
from deploy.redis_server import Redis
from deploy.stack import select


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        kafka_port=1234,
        kafka_controller_port=1235,
        redis_port=2345,
        kafka_partitions=7,
    )


def test_kafka_is_a_single_kraft_node_without_auto_created_topics(tmp_path: Path) -> None:
    props = dict(
        line.split("=", 1)
        for line in Kafka(_settings(tmp_path)).server_properties().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:1234,CONTROLLER://127.0.0.1:1235"
    assert props["auto.create.topics.enable"] == "false"
    assert props["num.partitions"] == "7"
    assert props["log.dirs"] == str(tmp_path.resolve() / "kafka" / "data")
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
    ):
        assert props[key] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_kafka_logs_to_a_file_in_the_data_folder(tmp_path: Path) -> None:
    log4j = Kafka(_settings(tmp_path)).log4j_properties()
    assert f"fileName = {tmp_path.resolve()}/kafka/logs/server.log" in log4j


def test_redis_is_a_loopback_daemon_living_in_the_data_folder(tmp_path: Path) -> None:
    conf = Redis(_settings(tmp_path)).config_text()
    root = tmp_path.resolve() / "redis"
    for line in (
        "bind 127.0.0.1",
        "port 2345",
        "daemonize yes",
        "appendonly no",
        f'pidfile "{root}/redis.pid"',
        f'logfile "{root}/redis.log"',
        f'dir "{root}"',
    ):
        assert line in conf.splitlines()


def test_cluster_ids_look_like_kafkas() -> None:
    for _ in range(100):
        cluster_id = new_cluster_id()
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", cluster_id)


def test_services_come_in_start_order_and_can_be_chosen(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert [s.name for s in select(settings)] == ["postgresql", "redis", "kafka", "registry"]
    assert [s.name for s in select(settings, ["kafka", "redis"])] == ["redis", "kafka"]


def test_stack_errors_are_one_line() -> None:
    assert StackError("a\n  b\tc").message == "a b c"
