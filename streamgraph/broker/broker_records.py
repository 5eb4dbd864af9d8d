"""The local brokers this user started, recorded so that every command finds them.

`streamgraph kafka start` and `streamgraph run` (or `fn.deploy()`, when it starts a broker of its
own) record each broker in the per-user state folder, `Settings().state_folder()/brokers/`, never
the current folder: `kafka status` and `kafka stop` work from any folder, and `send`, `inspect`,
`dlq`, `topics` use a recorded broker when no address was given. One JSON file per broker:
`kafka-<hash of its data folder>.json` for `kafka start`, `run-<pid>.json` for the run that owns
it. Every pid is stored with a marker (the node's server.properties path, found in the JVM's
command line), so a process that merely reuses an old pid never counts as the broker.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from streamgraph.broker import jvm_process
from streamgraph.broker.errors import BrokerError
from streamgraph.broker.local_kafka import LocalKafka
from streamgraph.settings import Settings

KAFKA_START = "kafka-"  # key prefix of the brokers `streamgraph kafka start` left running
RUN = "run-"  # key prefix of a broker a run started for itself (gone when the run stops)


@dataclass(frozen=True)
class NodeRecord:
    """One running node: its pid, client port, identifying marker and log file."""

    node_id: int
    pid: int
    port: int
    marker: str
    log: str


@dataclass(frozen=True)
class BrokerState:
    """What `status`, `stop` and the other commands need to find a broker again."""

    version: str
    bootstrap_servers: str
    nodes: list[NodeRecord]
    data_dir: str = ""
    owner: str = ""  # who started it, as a person reads it: "streamgraph run (pid 123)"
    security: str = ""  # "" for an open broker, else LocalKafka's security ("sasl_ssl", ...)
    started_at: float = field(default_factory=time.time)

    def running(self) -> bool:
        """Every node's process still runs (a pid reused by another program does not count)."""
        return bool(self.nodes) and all(jvm_process.pid_runs(n.pid, n.marker) for n in self.nodes)

    def running_pids(self) -> list[int]:
        return [n.pid for n in self.nodes if jvm_process.pid_runs(n.pid, n.marker)]


def folder(settings: Settings | None = None) -> Path:
    """Where the records are: `<state folder>/brokers`."""
    return (settings or Settings()).state_folder() / "brokers"


def default_data_dir(settings: Settings | None = None) -> Path:
    """Where `streamgraph kafka start` keeps its broker's data unless given --data."""
    return (settings or Settings()).state_folder() / "kafka"


def kafka_start_key(data_dir: Path) -> str:
    """The record key of the broker `kafka start` runs from `data_dir` (one per data folder)."""
    digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return f"{KAFKA_START}{digest}"


def run_key(pid: int | None = None) -> str:
    """The record key of the broker the run with this pid (default: this process) started."""
    return f"{RUN}{pid if pid is not None else os.getpid()}"


def record(kafka: LocalKafka, owner: str) -> BrokerState:
    """The state of a started LocalKafka."""
    nodes = [
        NodeRecord(spec.node_id, pid, spec.port, str(spec.properties_path), str(spec.log_path))
        for spec, pid in zip(kafka.specs, kafka.pids, strict=True)
    ]
    return BrokerState(
        kafka.version,
        kafka.bootstrap_servers,
        nodes,
        str(kafka.data_dir),
        owner=owner,
        security=kafka.security or "",
    )


def save(records: Path, key: str, state: BrokerState) -> None:
    """Write one record atomically (a reader never sees half of it)."""
    records.mkdir(parents=True, exist_ok=True)
    partial = records / f"{key}.json.partial"
    partial.write_text(json.dumps(asdict(state), indent=2) + "\n")
    partial.replace(records / f"{key}.json")


def load(records: Path, key: str) -> BrokerState | None:
    """The record `key`, or None when there is none."""
    path = records / f"{key}.json"
    try:
        raw = json.loads(path.read_text())
        nodes = [NodeRecord(**node) for node in raw.pop("nodes")]
        return BrokerState(nodes=nodes, **raw)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError) as exc:
        raise BrokerError(f"{path} is not a streamgraph Kafka state file: {exc}") from exc


def clear(records: Path, key: str) -> None:
    """Forget a broker (after it was stopped); its data stays for the next start."""
    (records / f"{key}.json").unlink(missing_ok=True)


def recorded(records: Path, prefix: str = "") -> list[tuple[str, BrokerState]]:
    """Every readable record whose key starts with `prefix`, newest first."""
    found = []
    for path in records.glob(f"{prefix}*.json") if records.is_dir() else ():
        try:
            state = load(records, path.stem)
        except BrokerError:
            continue  # a damaged record is nobody's broker; `kafka status --data` reports it
        if state is not None:
            found.append((path.stem, state))
    return sorted(found, key=lambda item: -item[1].started_at)


def running_brokers(records: Path) -> list[tuple[str, BrokerState]]:
    """The recorded brokers that still run: `kafka start`'s first, then runs', newest first.

    A run's record whose broker is gone (the run was killed before it could clear it) is
    removed here; `kafka start`'s stay until `kafka stop`, which reports them. Secured brokers
    (`kafka start --secure`) are left out: the callers pick a broker to connect to with no
    credentials, which a secured one would refuse; its clients load its client.env instead.
    """
    live = []
    for key, state in recorded(records):
        if state.security:
            continue
        if state.running():
            live.append((key, state))
        elif key.startswith(RUN):
            clear(records, key)
    return sorted(live, key=lambda item: not item[0].startswith(KAFKA_START))


__all__ = [
    "BrokerState",
    "NodeRecord",
    "clear",
    "default_data_dir",
    "folder",
    "kafka_start_key",
    "load",
    "record",
    "recorded",
    "run_key",
    "running_brokers",
    "save",
]
