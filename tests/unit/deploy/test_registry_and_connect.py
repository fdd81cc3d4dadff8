"""The schema registry's and the Connect example's configuration (no process is started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from deploy.connect_worker import native_registry_url, sink_properties, worker_properties
from deploy.errors import StackError
from deploy.schema_registry import SchemaRegistry, build_cache


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, env="dev", registry_port=58991, **values)  # type: ignore[arg-type]


def test_the_registry_listens_on_loopback_with_a_small_heap_and_file_storage(
    tmp_path: Path,
) -> None:
    registry = SchemaRegistry(_settings(tmp_path))
    line = " ".join(map(str, registry.command(Path("/usr/bin/java"), Path("/r/runner.jar"))))
    assert "-Xmx256m" in line and "-Dquarkus.http.host=127.0.0.1" in line
    assert "-Dquarkus.http.port=58991" in line
    assert f"jdbc:h2:file:{tmp_path.resolve()}/registry/data/registry;" in line
    assert registry.address() == "http://127.0.0.1:58991/apis/ccompat/v7"
    assert [port.number for port in registry.ports()] == [58991]
    assert registry.app.parent == build_cache()  # shared by every data folder
    assert registry.workdir == tmp_path.resolve() / "registry"


def test_a_bad_heap_is_one_line(tmp_path: Path) -> None:
    registry = SchemaRegistry(_settings(tmp_path, registry_heap="lots"))
    with pytest.raises(StackError, match="VQ_REGISTRY_HEAP=lots"):
        registry.command(Path("java"), Path("runner.jar"))


def test_settings_name_the_registry_and_the_wire_format(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.schema_registry_url == "http://127.0.0.1:58991/apis/ccompat/v7"
    assert settings.events_wire_format == "plain"
    assert settings.events_dead_letter_topic == "vq.queue-events.dead"
    elsewhere = _settings(tmp_path, registry_url="https://sr.example/apis/ccompat/v7/")
    assert elsewhere.schema_registry_url == "https://sr.example/apis/ccompat/v7"
    env = _settings(tmp_path, events_wire_format="confluent").environment()
    assert env["VQ_EVENTS_WIRE_FORMAT"] == "confluent"
    with pytest.raises(ValueError):
        _settings(tmp_path, events_wire_format="protobuf")


def test_the_connect_worker_reads_the_confluent_format_through_the_registry(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    assert native_registry_url(settings) == "http://127.0.0.1:58991/apis/registry/v2"
    worker = dict(
        line.split("=", 1)
        for line in worker_properties(settings, tmp_path, 58993).splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert worker["value.converter"] == "io.apicurio.registry.utils.converter.AvroConverter"
    assert worker["value.converter.apicurio.registry.as-confluent"] == "true"
    assert worker["value.converter.apicurio.registry.use-id"] == "contentId"
    assert worker["listeners"] == "http://127.0.0.1:58993"
    sink = sink_properties("vq.queue-events", tmp_path / "out.txt")
    assert "connector.class=org.apache.kafka.connect.file.FileStreamSinkConnector" in sink
    assert "topics=vq.queue-events\n" in sink
