"""Broker configuration: server.properties of each KRaft node, the log4j2 config, the Docker env.

One set of settings (`broker_settings`) serves the jar broker and the Docker broker, so a test
behaves the same on both. The settings are tuned for tests and development on a small machine:
one partition for the internal topics (50 by default, which makes the first group join and the
first transaction slow), no initial rebalance delay, and a small on-heap log-cleaner buffer.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: The port `streamgraph kafka start` and docker-compose.kafka.yml listen on; it matches the
#: default of STREAMGRAPH_BROKERS (127.0.0.1:9092).
DEFAULT_PORT = 9092
DEFAULT_BOOTSTRAP = f"127.0.0.1:{DEFAULT_PORT}"

#: A fixed cluster id for the Docker broker (the apache/kafka image requires one).
DOCKER_CLUSTER_ID = "c2dyYXBoLWthZmthLTAwMQ"
DOCKER_LOG_DIR = "/tmp/kraft-combined-logs"
DOCKER_CONTROLLER_PORT = 29093
DOCKER_HEAP = "-Xmx512m"


@dataclass(frozen=True)
class NodeSpec:
    """Where one KRaft node (broker and controller in one JVM) listens and keeps its files."""

    node_id: int
    port: int
    controller_port: int
    directory: Path
    #: the inter-broker listener's port; only secured nodes have one (plain nodes replicate
    #: over their client listener)
    internal_port: int | None = None

    @property
    def properties_path(self) -> Path:
        return self.directory / "server.properties"

    @property
    def data_path(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "broker.log"

    @property
    def is_formatted(self) -> bool:
        """The storage tool writes meta.properties; a formatted node must not be formatted again."""
        return (self.data_path / "meta.properties").is_file()


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes as URL-safe base64 without padding (22 chars)."""
    while True:  # Kafka's own Uuid.randomUuid avoids ids that start with '-', so do we
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def broker_settings(nodes: int) -> dict[str, str]:
    """Settings shared by every node of a local cluster of `nodes` nodes (jar or Docker)."""
    replicas = str(min(nodes, 3))
    min_isr = "2" if nodes >= 3 else "1"
    settings = {
        "num.partitions": "1",
        "default.replication.factor": replicas,
        "min.insync.replicas": min_isr,
        "unclean.leader.election.enable": "false",
        "auto.create.topics.enable": "true",
        # internal topics: one partition each, replicated like user topics
        "offsets.topic.num.partitions": "1",
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.num.partitions": "1",
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
        # the first consumer group forms at once instead of waiting 3 s for more members
        "group.initial.rebalance.delay.ms": "0",
        # lets tests use short consumer session timeouts (the broker's floor is 6 s by default)
        "group.min.session.timeout.ms": "1000",
        # small footprint: the cleaner allocates its dedupe buffer ON HEAP (128 MiB by default)
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "4" if nodes == 1 else "2",
        "num.recovery.threads.per.data.dir": "1",
    }
    if nodes > 1:
        # detect a dead node in ~3 s instead of 9 s, and drop a lagging replica from the ISR sooner
        settings["broker.heartbeat.interval.ms"] = "500"
        settings["broker.session.timeout.ms"] = "3000"
        settings["replica.lag.time.max.ms"] = "5000"
    return settings


def server_properties(
    node: NodeSpec, cluster: Sequence[NodeSpec], overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The server.properties of `node` in `cluster`: a static quorum of every node as voter.

    The static form (`controller.quorum.voters`) needs no `--standalone` or
    `--initial-controllers` when formatting, and is the same for one node and for three.
    """
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in cluster)
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(node.data_path),
    }
    props.update(broker_settings(len(cluster)))
    props.update(overrides or {})
    return props


def render_properties(props: Mapping[str, str]) -> str:
    """Java properties text (backslashes escaped; keys here never need escaping)."""
    lines = ["# written by streamgraph.broker; edits are overwritten on the next start"]
    lines += [f"{key}={value.replace(chr(92), chr(92) * 2)}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


#: WARN and above, plus the one INFO line that says the broker is up. The properties format
#: needs no extra jar (the stock log4j2.yaml would need jackson-dataformat-yaml).
LOG4J2_PROPERTIES = """\
status = warn
name = streamgraph-kafka
# Kafka stops itself on SIGTERM; log4j's own hook would only warn that the JVM is shutting down
shutdownHook = disable
appender.console.type = Console
appender.console.name = STDOUT
appender.console.target = SYSTEM_OUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


def docker_environment(port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> dict[str, str]:
    """The apache/kafka container environment of a one-node broker reached at `host:port`.

    The image turns each `KAFKA_A_B` variable into the property `a.b`. docker-compose.kafka.yml
    holds exactly this mapping for port 9092 (a test checks it).
    """
    props = {
        "node.id": "1",
        "process.roles": "broker,controller",
        "listeners": f"PLAINTEXT://0.0.0.0:{port},CONTROLLER://0.0.0.0:{DOCKER_CONTROLLER_PORT}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "controller.quorum.voters": f"1@localhost:{DOCKER_CONTROLLER_PORT}",
        "log.dirs": DOCKER_LOG_DIR,
        **broker_settings(1),
    }
    env = {"KAFKA_" + key.upper().replace(".", "_"): value for key, value in props.items()}
    env["CLUSTER_ID"] = DOCKER_CLUSTER_ID
    env["KAFKA_HEAP_OPTS"] = DOCKER_HEAP
    return env


__all__ = [
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_PORT",
    "LOG4J2_PROPERTIES",
    "NodeSpec",
    "broker_settings",
    "docker_environment",
    "new_cluster_id",
    "render_properties",
    "server_properties",
]
