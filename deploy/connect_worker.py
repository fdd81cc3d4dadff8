"""The Kafka Connect example: a standalone worker with the file sink reading the events topic.

Kafka Connect's own runtime (connect-runtime, from Maven Central like the broker) runs one
connector, FileStreamSinkConnector (Apache-2.0, no licence to accept), which appends each record
of `<prefix>.queue-events` to a text file. The values go through Apicurio Registry's AvroConverter
reading the Confluent wire format by schema id from the stack's registry: the relay must run with
VQ_EVENTS_WIRE_FORMAT=confluent. The jars are resolved once into <data_dir>/connect/libs (again when
deploy/connect/pom.xml changes); `python -m deploy.connect_worker --file OUT` runs it in the
foreground (deploy/README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
from pathlib import Path

from core.settings import Settings, get_settings
from deploy import jvm, procs
from deploy.errors import StackError

POM = Path(__file__).resolve().parent / "connect" / "pom.xml"
MAIN = "org.apache.kafka.connect.cli.ConnectStandalone"
_COPY = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
CONNECTOR = "vq-queue-events-file"


def native_registry_url(settings: Settings) -> str:
    """Apicurio's own API (its converters' language) beside the Confluent-compatible one."""
    url = settings.schema_registry_url
    return url.removesuffix("/apis/ccompat/v7") + "/apis/registry/v2"


def ensure_libs(root: Path) -> Path:
    libs, partial = root / "libs", root / "libs.partial"
    stamp = libs / ".pom.sha256"
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest:
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("mvn is not on PATH; it fetches Kafka Connect once: apt-get install maven")
    shutil.rmtree(partial, ignore_errors=True)
    work = root / "maven"
    work.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(POM, work / "pom.xml")
    out = procs.run(
        [mvn, "-q", "-B", "-Dstyle.color=never", "-f", work / "pom.xml", _COPY,
         f"-DoutputDirectory={partial}"],
        timeout=1800,
    )  # fmt: skip
    if out.returncode != 0 or not any(partial.glob("connect-runtime-*.jar")):
        reason = out.last_line(prefer="[ERROR]").removeprefix("[ERROR]").strip()[:400]
        raise StackError(f"Kafka Connect could not be resolved from Maven Central: {reason}")
    (partial / stamp.name).write_text(digest + "\n")
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)
    return libs


def worker_properties(settings: Settings, root: Path, rest_port: int) -> str:
    return "\n".join(
        [
            "# written by deploy/connect_worker.py",
            f"bootstrap.servers={settings.kafka_servers}",
            "key.converter=org.apache.kafka.connect.storage.StringConverter",
            "value.converter=io.apicurio.registry.utils.converter.AvroConverter",
            f"value.converter.apicurio.registry.url={native_registry_url(settings)}",
            # The relay's framing: magic byte and a 4-byte id, which the ccompat API hands out
            # as content ids.
            "value.converter.apicurio.registry.as-confluent=true",
            "value.converter.apicurio.registry.use-id=contentId",
            "header.converter=org.apache.kafka.connect.storage.SimpleHeaderConverter",
            f"offset.storage.file.filename={root / 'connect.offsets'}",
            "offset.flush.interval.ms=1000",
            f"listeners=http://127.0.0.1:{rest_port}",
            "plugin.discovery=only_scan",
            "",
        ]
    )


def sink_properties(topic: str, out: Path) -> str:
    return "\n".join(
        [
            f"name={CONNECTOR}",
            "connector.class=org.apache.kafka.connect.file.FileStreamSinkConnector",
            "tasks.max=1",
            f"topics={topic}",
            f"file={out}",
            "consumer.override.auto.offset.reset=earliest",
            "",
        ]
    )


def command(settings: Settings, root: Path, out: Path, rest_port: int) -> list[str]:
    """Write the worker's and the connector's properties under `root`; the java command that
    runs them (the jars are shared: <data_dir>/connect/libs)."""
    libs = ensure_libs(settings.data_dir.resolve() / "connect")
    (root / "worker.properties").write_text(worker_properties(settings, root, rest_port))
    (root / "file-sink.properties").write_text(sink_properties(settings.events_topic, out))
    (root / "log4j2.properties").write_text(
        "rootLogger.level = warn\nrootLogger.appenderRef.out.ref = out\n"
        "appender.out.type = Console\nappender.out.name = out\n"
        "appender.out.layout.type = PatternLayout\n"
        "appender.out.layout.pattern = [%d] %p %m (%c)%n\n"
    )
    return [
        str(jvm.find_java()),
        "-Xmx256m",
        "-XX:+UseSerialGC",
        f"-Dlog4j2.configurationFile={root / 'log4j2.properties'}",
        "-cp",
        f"{libs}/*",
        MAIN,
        str(root / "worker.properties"),
        str(root / "file-sink.properties"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.connect_worker", description=__doc__)
    parser.add_argument("--file", type=Path, required=True, help="where the sink appends records")
    parser.add_argument("--rest-port", type=int, default=58083)
    args = parser.parse_args(argv)
    settings = get_settings()
    root = settings.data_dir.resolve() / "connect"
    root.mkdir(parents=True, exist_ok=True)
    try:
        cmd = command(settings, root, args.file.resolve(), args.rest_port)
    except StackError as exc:
        print(f"connect: {exc}", file=sys.stderr)
        return 1
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    sys.exit(main())
