"""The schema registry: Apicurio Registry, whose Confluent-compatible REST API the relay, kcat and
Kafka Connect's converters speak, built once from Maven Central and run on the installed JDK.

Apicurio publishes its application's classes to Maven Central but no runnable build, so the first
start runs `mvn package` on deploy/registry/pom.xml (Quarkus's build step; ~25 s with a warm
~/.m2) and keeps the result in the user's cache (`~/.cache/virtual-queue/schema-registry/<digest>`,
shared by every data folder, as ~/.m2 is); again only when that pom or its Java source changes.
Storage: H2 in a file under <data_dir>/registry/data, so schema ids survive a restart (the relay
registers every schema again at start anyway: registering known content is a no-op).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from deploy import jvm, procs
from deploy.errors import StackError
from deploy.service import Port, Service

PROJECT = Path(__file__).resolve().parent / "registry"
_HEAP = re.compile(r"^\d+[kKmMgG]?$")
_RUNNER = "schema-registry-1-runner.jar"


def build_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "virtual-queue" / "schema-registry"


def _build_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(PROJECT.rglob("*")):
        if path.is_file() and "target" not in path.relative_to(PROJECT).parts:
            digest.update(str(path.relative_to(PROJECT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class SchemaRegistry(Service):
    name = "registry"
    dirname = "registry"
    start_timeout = 120.0  # a cold Quarkus start on two cores while Kafka boots

    @property
    def app(self) -> Path:
        return build_cache() / _build_digest()[:16]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pidfile(self) -> Path:
        return self.root / "registry.pid"

    @property
    def workdir(self) -> Path:
        return self.root

    @property
    def marker(self) -> str:
        return _RUNNER

    def ports(self) -> list[Port]:
        return [Port(self.settings.registry_port, "VQ_REGISTRY_PORT")]

    def address(self) -> str:
        return f"http://127.0.0.1:{self.settings.registry_port}/apis/ccompat/v7"

    def log_files(self) -> list[Path]:
        return [self.logs / "registry.out"]

    def ensure_app(self) -> Path:
        """The runnable registry (runner jar + lib/), built with Maven when missing or changed.
        Built in a folder of its own and renamed into place, so two stacks building at once
        (tests) each end with a whole build, and an interrupted build is never "cached"."""
        runner = self.app / _RUNNER
        if runner.exists():
            return runner
        mvn = shutil.which("mvn")
        if mvn is None:
            raise StackError(
                "mvn is not on PATH; it is needed once to build the schema registry from "
                "Maven Central: apt-get install maven"
            )
        self.app.parent.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix="build-", dir=self.app.parent))
        try:
            shutil.copytree(PROJECT, build / "project", ignore=shutil.ignore_patterns("target"))
            print(
                f"building the schema registry (Apicurio) with Maven into {self.app}...",
                flush=True,
            )
            pom = build / "project" / "pom.xml"
            out = procs.run(
                [mvn, "-q", "-B", "-Dstyle.color=never", "-f", pom, "package"], timeout=1800
            )
            built = build / "project" / "target"
            if out.returncode != 0 or not (built / _RUNNER).exists():
                reason = out.last_line(prefer="[ERROR]").removeprefix("[ERROR]").strip()[:400]
                raise StackError(
                    f"the schema registry could not be built from Maven Central: {reason}; "
                    "check the network or the proxy in ~/.m2/settings.xml"
                )
            (build / "app").mkdir()
            shutil.move(built / _RUNNER, build / "app" / _RUNNER)
            shutil.move(built / "lib", build / "app" / "lib")
            with contextlib.suppress(OSError):  # another build won the race: keep that one
                (build / "app").rename(self.app)
        finally:
            shutil.rmtree(build, ignore_errors=True)
        return runner

    def command(self, java: Path, runner: Path) -> list[str | Path]:
        heap = self.settings.registry_heap
        if not _HEAP.match(heap):
            raise StackError(f"VQ_REGISTRY_HEAP={heap} is not a JVM heap size such as 256m")
        return [
            java,
            f"-Xmx{heap}",
            "-Xms64m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",  # a quick start matters more than peak speed here
            "-Djava.awt.headless=true",
            "-Dquarkus.http.host=127.0.0.1",
            f"-Dquarkus.http.port={self.settings.registry_port}",
            # Registrations from several relays at once (tests, a stand-by) queue on H2's row
            # locks: wait for them longer than H2's default second.
            f"-Dquarkus.datasource.jdbc.url=jdbc:h2:file:{self.data}/registry;LOCK_TIMEOUT=15000",
            "-Dquarkus.datasource.jdbc.min-size=1",
            "-Dquarkus.datasource.jdbc.initial-size=1",
            "-Dquarkus.datasource.jdbc.max-size=8",
            "-jar",
            runner,
        ]

    def start(self) -> int:
        java = jvm.find_java()
        runner = self.ensure_app()
        self.logs.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        print(f"starting the schema registry on {self.address()}...", flush=True)
        return procs.spawn_detached(
            self.command(java, runner),
            cwd=self.root,
            pidfile=self.pidfile,
            logfile=self.logs / "registry.out",
        )

    def ready(self) -> bool:
        if not procs.listening(self.settings.registry_port):
            return False
        # The global compatibility level: one row, milliseconds. (`/subjects` lists every subject
        # ever registered: 1.6 s for the 1,000 it shows after a few test runs, over 3 s on a busy
        # box, and `vq stack status` said a working registry did not answer.)
        try:
            with urllib.request.urlopen(f"{self.address()}/config", timeout=3) as answer:
                body = json.loads(answer.read())
                return (
                    answer.status == 200 and isinstance(body, dict) and "compatibilityLevel" in body
                )
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def provision(self) -> str:
        return "Apicurio Registry 2.4 (Confluent API), H2 storage"

    def stop(self, pid: int) -> None:
        procs.terminate(pid, grace=30)
        self.pidfile.unlink(missing_ok=True)
