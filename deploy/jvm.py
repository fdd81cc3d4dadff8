"""The JDK that runs Kafka, and the Kafka jars resolved once from Maven Central with `mvn`."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from deploy import procs
from deploy.errors import StackError

POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
MIN_JAVA = 17  # Kafka 4 brokers need Java 17 or newer
_OFFLINE_HINT = "or set VQ_KAFKA_LIBS to the libs/ folder of an unpacked Kafka 4.x distribution"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Named in full: Maven 3.8 would pick a 2013 version for the `dependency:` prefix, and resolving
# the prefix needs the network before the error could even name the missing artifact.
_COPY_DEPENDENCIES = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"


def kafka_version() -> str:
    found = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    return found.group(1) if found else "?"


def find_java() -> Path:
    """`$JAVA_HOME/bin/java` if set, else `java` on PATH; at least Java 17."""
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home) / "bin" / "java" if home else None
    if candidate is None or not os.access(candidate, os.X_OK):
        found = shutil.which("java")
        candidate = Path(found) if found else None
    if candidate is None:
        raise StackError(
            f"java is not on PATH and JAVA_HOME is not set: Kafka needs Java {MIN_JAVA} or newer; "
            "install it (apt-get install openjdk-17-jre-headless) or put its bin/ folder on PATH"
        )
    out = procs.run([candidate, "-version"], timeout=60)
    found_version = re.search(r'version "(\d+)(?:\.(\d+))?', out.text)
    if out.returncode != 0 or not found_version:
        raise StackError(f"{candidate} -version failed: {out.last_line()}")
    major = int(found_version.group(1))
    if major == 1:  # "1.8.0_392" is Java 8
        major = int(found_version.group(2) or 0)
    if major < MIN_JAVA:
        raise StackError(
            f"{candidate} is Java {major}, Kafka 4 needs Java {MIN_JAVA} or newer; install "
            "openjdk-17-jre-headless and put it first on PATH or set JAVA_HOME"
        )
    return candidate


def _has_kafka(libs: Path) -> bool:
    return any(libs.glob("kafka_2.13-*.jar"))


def ensure_jars(kafka_root: Path, override: Path | None) -> Path:
    """The folder of jars Kafka runs from; resolved with Maven when missing or the pom changed."""
    if override is not None:
        if not _has_kafka(override):
            raise StackError(
                f"VQ_KAFKA_LIBS={override} holds no kafka_2.13-*.jar; point it at the "
                "libs/ folder of an unpacked Kafka 4.x distribution"
            )
        return override
    libs = kafka_root / "libs"
    stamp = libs / ".pom.sha256"
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest and _has_kafka(libs):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            "mvn is not on PATH; it is needed once to fetch the Kafka jars from Maven "
            f"Central: apt-get install maven, {_OFFLINE_HINT}"
        )
    # Resolve into a side folder and swap it in, so an interrupted download is never "cached".
    work, partial = kafka_root / "maven", kafka_root / "libs.partial"
    shutil.rmtree(partial, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(POM, work / "pom.xml")
    print(
        f"resolving Kafka {kafka_version()} jars with Maven into {procs.shown(libs)}...", flush=True
    )
    out = procs.run(
        [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            work / "pom.xml",
            _COPY_DEPENDENCIES,
            f"-DoutputDirectory={partial}",
        ],
        timeout=1800,
    )
    if out.returncode != 0 or not _has_kafka(partial):
        reason = _ANSI.sub("", out.last_line(prefer="[ERROR]")).removeprefix("[ERROR]").strip()
        reason = reason.split(" -> [Help")[0][:400]
        raise StackError(
            f"Kafka jars could not be resolved from Maven Central: {reason}; check "
            f"the network or the proxy in ~/.m2/settings.xml, {_OFFLINE_HINT}"
        )
    (partial / stamp.name).write_text(digest + "\n")
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)
    return libs
