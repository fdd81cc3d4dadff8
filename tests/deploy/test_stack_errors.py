"""Bad configuration ends with one line on stderr saying what is wrong and what to do, exit 1.

Each test uses a private data folder and free ports, so the shared stack is not touched.
"""

from __future__ import annotations

import stat
from pathlib import Path

from tests.deploy.conftest import Result, vq


def _one_line_error(result: Result) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # no traceback
    assert lines[0].startswith("vq stack: ")
    return lines[0]


def test_a_port_held_by_another_program_is_named(
    private_env: dict[str, str], held_port: int
) -> None:
    private_env["VQ_REDIS_PORT"] = str(held_port)
    line = _one_line_error(vq("stack", "up", env=private_env))
    assert f"port {held_port} for redis is already in use by another program" in line
    assert "http.server" in line
    assert "VQ_REDIS_PORT" in line
    # The check comes before anything starts: nothing was created for any service.
    assert not (Path(private_env["VQ_DATA_DIR"]) / "postgres").exists()


def test_status_names_the_port_holder_too(private_env: dict[str, str], held_port: int) -> None:
    private_env["VQ_KAFKA_PORT"] = str(held_port)
    result = vq("stack", "status", "kafka", env=private_env)
    assert result.returncode == 1
    assert f"port {held_port} for kafka is already in use" in result.stdout


def test_missing_java_is_one_line(private_env: dict[str, str], tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    private_env["PATH"] = str(empty_bin)
    private_env.pop("JAVA_HOME", None)
    line = _one_line_error(vq("stack", "up", "kafka", env=private_env))
    assert "java is not on PATH" in line
    assert "Java 17" in line


def test_a_failed_kafka_download_is_one_line(private_env: dict[str, str], tmp_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    mvn = fake_bin / "mvn"
    mvn.write_text(
        "#!/bin/sh\n"
        "echo '[ERROR] Failed to execute goal: Could not transfer artifact "
        "org.apache.kafka:kafka_2.13:jar:4.4.0 from/to central: Connection refused -> [Help 1]'\n"
        "exit 1\n"
    )
    mvn.chmod(mvn.stat().st_mode | stat.S_IXUSR)
    private_env["PATH"] = f"{fake_bin}:{private_env['PATH']}"
    line = _one_line_error(vq("stack", "up", "kafka", env=private_env))
    assert "Kafka jars could not be resolved from Maven Central" in line
    assert "Connection refused" in line
    assert "VQ_KAFKA_LIBS" in line
    # A failed download is not mistaken for a cache next time.
    assert not (Path(private_env["VQ_DATA_DIR"]) / "kafka" / "libs").exists()


def test_bad_kafka_libs_setting_is_one_line(private_env: dict[str, str], tmp_path: Path) -> None:
    private_env["VQ_KAFKA_LIBS"] = str(tmp_path)
    line = _one_line_error(vq("stack", "up", "kafka", env=private_env))
    assert "holds no kafka_2.13-*.jar" in line


def test_unknown_service_is_one_line(private_env: dict[str, str]) -> None:
    line = _one_line_error(vq("stack", "up", "mysql", env=private_env))
    assert "no service called mysql" in line


def test_status_of_an_empty_data_folder_says_down(private_env: dict[str, str]) -> None:
    result = vq("stack", "status", env=private_env)
    assert result.returncode == 1
    assert [line.split()[:3] for line in result.stdout.splitlines()] == [
        ["postgresql", "down", f"postgresql://vq:vq@127.0.0.1:{private_env['VQ_PG_PORT']}/vq"],
        ["redis", "down", f"redis://127.0.0.1:{private_env['VQ_REDIS_PORT']}/0"],
        ["kafka", "down", f"127.0.0.1:{private_env['VQ_KAFKA_PORT']}"],
        [
            "registry",
            "down",
            f"http://127.0.0.1:{private_env['VQ_REGISTRY_PORT']}/apis/ccompat/v7",
        ],
    ]
