"""`streamgraph kafka start|status|stop`: a local Kafka that outlives the command.

`start` leaves the broker JVM(s) running in the background and records their pids in
`<data>/state.json`; `status` and `stop` find them there. Data persists under `<data>` between
a stop and the next start (delete the folder to begin afresh).
"""

from __future__ import annotations

from pathlib import Path

import click

from streamgraph.broker import process, state
from streamgraph.broker.config import DEFAULT_PORT
from streamgraph.broker.errors import BrokerError
from streamgraph.broker.local import LocalKafka
from streamgraph.broker.probe import HOST, answers_api_versions

_DATA = click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=state.DEFAULT_DATA_DIR,
    show_default=True,
    help="Folder for the broker's data, logs and state file.",
)


@click.group()
def kafka() -> None:
    """Run a local Apache Kafka in the background (KRaft, jars from Maven Central)."""


@kafka.command()
@click.option(
    "--nodes",
    type=click.Choice(["1", "3"]),
    default="1",
    show_default=True,
    help="1 node, or a 3-node cluster (replication 3, min ISR 2) for failover tests.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Client port of the first node; node i listens on PORT+i.",
)
@_DATA
def start(nodes: str, port: int, data_dir: Path) -> None:
    """Start Kafka on 127.0.0.1 and return once it serves requests."""
    data_dir = data_dir.resolve()
    recorded = state.load(data_dir)
    running = _running_nodes(recorded)
    if recorded is not None and running:
        click.echo(f"Kafka already running at {recorded.bootstrap_servers} (pids {running})")
        return
    broker = LocalKafka(nodes=int(nodes), port=port, data_dir=data_dir, tie_to_parent=False)
    try:
        broker.start()
        # record before letting go: should saving fail, exiting stops the JVMs (atexit)
        state.save(data_dir, state.record(broker))
    except BrokerError as exc:
        broker.stop()
        raise click.ClickException(str(exc)) from exc
    pids = broker.pids
    broker.detach()
    click.echo(f"Kafka {broker.version} running at {broker.bootstrap_servers} (pids {pids})")
    click.echo(f"logs: {data_dir}/node-*/broker.log; stop with: streamgraph kafka stop")
    if broker.bootstrap_servers != f"{HOST}:{DEFAULT_PORT}":
        click.echo(f"export STREAMGRAPH_BROKERS={broker.bootstrap_servers}")


@kafka.command()
@_DATA
def status(data_dir: Path) -> None:
    """Show whether the recorded Kafka is serving; exit 1 unless every node answers."""
    data_dir = data_dir.resolve()
    recorded = state.load(data_dir)
    if recorded is None:
        click.echo(f"Kafka is not running (nothing recorded in {data_dir})")
        raise SystemExit(1)
    healthy = True
    for node in recorded.nodes:
        alive = process.pid_runs(node.pid, node.marker)
        answers = alive and answers_api_versions(HOST, node.port)
        healthy = healthy and answers
        word = "serving" if answers else ("not answering" if alive else "not running")
        click.echo(f"node {node.node_id}: pid {node.pid} {HOST}:{node.port} {word}")
    if healthy:
        click.echo(f"Kafka {recorded.version} running at {recorded.bootstrap_servers}")
        return
    click.echo("Kafka is not healthy; see the logs, or `streamgraph kafka stop` to clean up")
    raise SystemExit(1)


@kafka.command()
@click.option(
    "--timeout",
    type=float,
    default=20.0,
    show_default=True,
    help="Seconds to wait after SIGTERM before SIGKILL.",
)
@_DATA
def stop(timeout: float, data_dir: Path) -> None:
    """Stop the recorded Kafka by pid (SIGTERM, then SIGKILL); its data stays."""
    data_dir = data_dir.resolve()
    recorded = state.load(data_dir)
    if recorded is None:
        click.echo(f"no Kafka recorded in {data_dir}; nothing to stop")
        return
    pids = _running_nodes(recorded)
    try:
        process.stop_pids(pids, timeout)
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from exc
    state.clear(data_dir)
    click.echo(f"stopped Kafka (pids {pids})" if pids else "Kafka was not running; state cleared")


def _running_nodes(recorded: state.BrokerState | None) -> list[int]:
    if recorded is None:
        return []
    return [node.pid for node in recorded.nodes if process.pid_runs(node.pid, node.marker)]


__all__ = ["kafka"]
