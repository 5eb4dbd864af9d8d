"""The state file of a broker left running by `streamgraph kafka start`.

`start` records each node's pid there; `status` and `stop`, run later from other processes,
read it back. Every pid is stored with a marker (the node's server.properties path, found in the
JVM's command line), so `stop` never signals a process that merely reuses an old pid.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from streamgraph.broker.errors import BrokerError
from streamgraph.broker.local import LocalKafka

#: Where `streamgraph kafka` keeps data, logs and state unless given --data.
DEFAULT_DATA_DIR = Path(".streamgraph") / "kafka"
STATE_FILE = "state.json"


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
    """What `status` and `stop` need to find the broker again."""

    version: str
    bootstrap_servers: str
    nodes: list[NodeRecord]
    started_at: float = field(default_factory=time.time)


def record(kafka: LocalKafka) -> BrokerState:
    """The state of a started LocalKafka."""
    nodes = [
        NodeRecord(spec.node_id, pid, spec.port, str(spec.properties_path), str(spec.log_path))
        for spec, pid in zip(kafka.specs, kafka.pids, strict=True)
    ]
    return BrokerState(kafka.version, kafka.bootstrap_servers, nodes)


def save(data_dir: Path, state: BrokerState) -> None:
    """Write the state file atomically (a reader never sees half of it)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    partial = data_dir / (STATE_FILE + ".partial")
    partial.write_text(json.dumps(asdict(state), indent=2) + "\n")
    partial.replace(data_dir / STATE_FILE)


def load(data_dir: Path) -> BrokerState | None:
    """The recorded state, or None when no broker was started from `data_dir`."""
    path = data_dir / STATE_FILE
    try:
        raw = json.loads(path.read_text())
        nodes = [NodeRecord(**node) for node in raw.pop("nodes")]
        return BrokerState(nodes=nodes, **raw)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError) as exc:
        raise BrokerError(f"{path} is not a streamgraph Kafka state file: {exc}") from exc


def clear(data_dir: Path) -> None:
    """Forget the broker (after it was stopped); its data stays for the next start."""
    (data_dir / STATE_FILE).unlink(missing_ok=True)


__all__ = ["DEFAULT_DATA_DIR", "BrokerState", "NodeRecord", "clear", "load", "record", "save"]
