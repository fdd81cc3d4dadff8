"""Apache Kafka 4 in KRaft mode, one combined broker+controller node, run on the installed JDK."""

from __future__ import annotations

import base64
import re
import uuid
from pathlib import Path

from deploy import jvm, procs, topics
from deploy.errors import StackError
from deploy.service import Port, Service

_HEAP = re.compile(r"^\d+[kKmMgG]?$")


def new_cluster_id() -> str:
    """What `kafka-storage random-uuid` prints: 16 random bytes, URL-safe base64, no padding."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):  # Kafka avoids ids that look like a CLI option
            return cluster_id


class Kafka(Service):
    name = "kafka"
    dirname = "kafka"
    start_timeout = 120.0  # a cold JVM on two cores, plus log recovery after a SIGKILL

    @property
    def properties(self) -> Path:
        return self.root / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.root / "log4j2.properties"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def pidfile(self) -> Path:
        return self.root / "kafka.pid"

    @property
    def workdir(self) -> Path:
        return self.root  # we start it there

    @property
    def marker(self) -> str:
        return "kafka.Kafka"

    def ports(self) -> list[Port]:
        return [
            Port(self.settings.kafka_port, "VQ_KAFKA_PORT"),
            Port(self.settings.kafka_controller_port, "VQ_KAFKA_CONTROLLER_PORT"),
        ]

    def address(self) -> str:
        return f"{self.settings.kafka_host}:{self.settings.kafka_port}"

    def log_files(self) -> list[Path]:
        return [self.logs / "server.log", self.logs / "kafka.out"]

    def server_properties(self) -> str:
        s = self.settings
        host, controller = s.kafka_host, f"{s.kafka_host}:{s.kafka_controller_port}"
        return (
            "# written by `vq stack up` on every start: edit deploy/kafka_broker.py instead\n"
            "process.roles=broker,controller\n"
            "node.id=1\n"
            f"controller.quorum.voters=1@{controller}\n"
            f"listeners=PLAINTEXT://{host}:{s.kafka_port},CONTROLLER://{controller}\n"
            f"advertised.listeners=PLAINTEXT://{host}:{s.kafka_port}\n"
            "controller.listener.names=CONTROLLER\n"
            "inter.broker.listener.name=PLAINTEXT\n"
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
            f"log.dirs={self.data}\n"
            # Topics are created by `vq stack up` (deploy/topics.py), never by a typo in a client.
            "auto.create.topics.enable=false\n"
            f"num.partitions={s.kafka_partitions}\n"
            "offsets.topic.replication.factor=1\n"
            "transaction.state.log.replication.factor=1\n"
            "transaction.state.log.min.isr=1\n"
            "share.coordinator.state.topic.replication.factor=1\n"
            "share.coordinator.state.topic.min.isr=1\n"
            "group.initial.rebalance.delay.ms=0\n"
            # After a SIGKILL the old registration blocks the restarted broker until its session
            # times out (9 s by default); on one loopback node a short session is safe.
            "broker.heartbeat.interval.ms=1000\n"
            "broker.session.timeout.ms=4000\n"
        )

    def log4j_properties(self) -> str:
        return (
            "# written by `vq stack up` on every start (log4j2, as Kafka 4 uses)\n"
            "status = warn\n"
            "appender.file.type = RollingFile\n"
            "appender.file.name = file\n"
            f"appender.file.fileName = {self.logs}/server.log\n"
            f"appender.file.filePattern = {self.logs}/server.log.%i\n"
            "appender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
            "appender.file.policies.type = Policies\n"
            "appender.file.policies.size.type = SizeBasedTriggeringPolicy\n"
            "appender.file.policies.size.size = 50MB\n"
            "appender.file.strategy.type = DefaultRolloverStrategy\n"
            "appender.file.strategy.max = 5\n"
            "rootLogger.level = info\n"
            "rootLogger.appenderRef.file.ref = file\n"
            "logger.statechange.name = state.change.logger\n"
            "logger.statechange.level = warn\n"
        )

    def _format(self, java: Path, libs: Path) -> None:
        print(f"formatting Kafka storage in {procs.shown(self.data)}...", flush=True)
        out = procs.run(
            [
                java,
                f"-Dlog4j2.configurationFile={self.log4j}",
                "-cp",
                f"{libs}/*",
                "kafka.tools.StorageTool",
                "format",
                "--ignore-formatted",
                "-t",
                new_cluster_id(),
                "-c",
                self.properties,
            ],
            cwd=self.root,
        )
        if out.returncode != 0:
            raise StackError(f"formatting Kafka storage failed: {out.last_line()}")

    def start(self) -> int:
        heap = self.settings.kafka_heap
        if not _HEAP.match(heap):
            raise StackError(f"VQ_KAFKA_HEAP={heap} is not a JVM heap size such as 512m or 1g")
        java = jvm.find_java()
        libs = jvm.ensure_jars(self.root, self.settings.kafka_libs)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.properties.write_text(self.server_properties())
        self.log4j.write_text(self.log4j_properties())
        if not (self.data / "meta.properties").exists():
            self._format(java, libs)
        print(
            f"starting kafka on {self.address()} (controller port "
            f"{self.settings.kafka_controller_port}, heap {heap})...",
            flush=True,
        )
        return procs.spawn_detached(
            [
                java,
                f"-Xmx{heap}",
                f"-Xms{heap}",
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "-XX:InitiatingHeapOccupancyPercent=35",
                "-XX:+ExplicitGCInvokesConcurrent",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.log4j}",
                f"-Dkafka.logs.dir={self.logs}",
                "-cp",
                f"{libs}/*",
                "kafka.Kafka",
                self.properties,
            ],
            cwd=self.root,
            pidfile=self.pidfile,
            logfile=self.logs / "kafka.out",
        )

    def ready(self) -> bool:
        if not procs.listening(self.settings.kafka_port):
            return False  # skip the client's slower failure while the JVM boots
        return topics.kafka_answers(self.address())

    def provision(self) -> str:
        s = self.settings
        made = topics.ensure_topics(
            s,
            [s.events_topic, s.positions_topic, *s.delivery_topics, s.events_dead_letter_topic],
            s.kafka_partitions,
            bootstrap=self.address(),
        )
        for topic in made:
            if topic.created:
                print(f"created topic {topic.name} ({topic.partitions} partitions)", flush=True)
        listed = " ".join(f"{topic.name}[{topic.partitions}]" for topic in made[:2])
        listed += f" and {len(made) - 2} more (deliveries, dead letters)" if len(made) > 2 else ""
        return (
            f"Kafka {self.version()} KRaft, controller :{s.kafka_controller_port}, topics: {listed}"
        )

    def version(self) -> str:
        libs = self.settings.kafka_libs or self.root / "libs"
        for jar in libs.glob("kafka_2.13-*.jar"):
            return jar.name.removeprefix("kafka_2.13-").removesuffix(".jar")
        return jvm.kafka_version()

    def stop(self, pid: int) -> None:
        procs.terminate(pid, grace=60)  # SIGTERM is a controlled shutdown; SIGKILL after a bound
        self.pidfile.unlink(missing_ok=True)
