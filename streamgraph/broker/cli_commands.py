"""`streamgraph kafka start|status|stop`: a local Kafka that outlives the command.

`start` leaves the broker JVM(s) running in the background and records their pids in the
per-user state folder (streamgraph/broker/broker_records.py), so `status` and `stop` find them
from any folder, and `send`, `inspect`, `dlq`, `topics` and `run` use the broker with no
--brokers. Data
persists under `<data>` (default: the state folder's `kafka/`) between a stop and the next start
(delete the folder to begin afresh).
"""

from __future__ import annotations

from pathlib import Path

import click

from streamgraph.broker import broker_records, jvm_process, secure_clients
from streamgraph.broker.config import DEFAULT_PORT
from streamgraph.broker.errors import BrokerError
from streamgraph.broker.local_kafka import LocalKafka
from streamgraph.broker.probe import HOST, answers_api_versions
from streamgraph.broker.secure_config import SECURITY_MODES

_DATA = click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the broker's data and logs  [default: the state folder's kafka/, "
    "$XDG_STATE_HOME/streamgraph/kafka]",
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
@click.option(
    "--secure",
    type=click.Choice(SECURITY_MODES),
    is_flag=False,
    flag_value="sasl_ssl",
    default=None,
    help="Secure the client listener: sasl_ssl (the default of a bare --secure; SCRAM, PLAIN "
    "and OAUTHBEARER over TLS), ssl (mutual TLS) or sasl_plaintext; with its own CA, an admin "
    "user and ACLs. Default data folder: the state folder's kafka-MODE/.",
)
def start(nodes: str, port: int, data_dir: Path | None, secure: str | None) -> None:
    """Start Kafka on 127.0.0.1 and return once it serves requests."""
    if data_dir is None and secure is not None:  # an open broker's folder has no users
        data_dir = broker_records.default_data_dir().with_name(f"kafka-{secure}")
    data_dir, key = _where(data_dir)
    records = broker_records.folder()
    recorded = broker_records.load(records, key)
    if recorded is not None and recorded.running():
        click.echo(
            f"Kafka already running at {recorded.bootstrap_servers} "
            f"(pids {recorded.running_pids()})"
        )
        _echo_client_env(recorded.bootstrap_servers, data_dir, recorded.security)
        return
    broker = LocalKafka(
        nodes=int(nodes), port=port, data_dir=data_dir, tie_to_parent=False, security=secure
    )
    try:
        broker.start()
        # record before letting go: should saving fail, exiting stops the JVMs (atexit)
        broker_records.save(
            records, key, broker_records.record(broker, owner="streamgraph kafka start")
        )
        if secure is not None:
            secure_clients.write_env_file(_env_file(data_dir), broker.client_env())
    except (BrokerError, OSError) as exc:
        broker.stop()
        raise click.ClickException(str(exc)) from exc
    pids = broker.pids
    broker.detach()
    click.echo(f"Kafka {broker.version} running at {broker.bootstrap_servers} (pids {pids})")
    click.echo(f"logs: {data_dir}/node-*/broker.log; stop with: streamgraph kafka stop")
    _echo_client_env(broker.bootstrap_servers, data_dir, secure or "")


def _echo_client_env(bootstrap_servers: str, data_dir: Path, security: str) -> None:
    """How clients reach the broker; a secured one's secrets stay in its 0600 env file."""
    if not security:
        click.echo("streamgraph commands find it from any folder; other clients need:")
        click.echo(f"export STREAMGRAPH_BROKERS={bootstrap_servers}")
        return
    env_file = _env_file(data_dir)
    click.echo(f"secured ({security}); the admin's client settings, password included, are in")
    click.echo(f"  {env_file}  (mode 0600); load them with:")
    click.echo(f"set -a; . {env_file}; set +a")
    if env_file.is_file():
        click.echo("its variables, secrets left out:")
        for line in env_file.read_text().splitlines():
            name = line.split("=", 1)[0]
            if name not in secure_clients.SECRET_VARIABLES:
                click.echo(f"export {line}")


@kafka.command()
@_DATA
def status(data_dir: Path | None) -> None:
    """Show the local brokers streamgraph started (`kafka start`'s, runs'); exit 1 unless one
    is recorded and every node of each answers."""
    records = broker_records.folder()
    if data_dir is not None:
        key = _where(data_dir)[1]
        found = [(key, s) for s in [broker_records.load(records, key)] if s is not None]
    else:  # a run's record is only news while the run lives
        found = broker_records.recorded(
            records, broker_records.KAFKA_START
        ) + broker_records.running_brokers(records)
        found = list(dict(found).items())
    if not found:
        where = data_dir.resolve() if data_dir is not None else records
        click.echo(f"Kafka is not running (nothing recorded in {where})")
        raise SystemExit(1)
    healthy = True
    for _, recorded in found:
        click.echo(f"{recorded.owner or 'a local broker'}: data in {recorded.data_dir}")
        tls = secure_clients.probe_context(Path(recorded.data_dir), recorded.security)
        for node in recorded.nodes:
            alive = jvm_process.pid_runs(node.pid, node.marker)
            answers = alive and answers_api_versions(HOST, node.port, tls=tls)
            healthy = healthy and answers
            word = "serving" if answers else ("not answering" if alive else "not running")
            click.echo(f"  node {node.node_id}: pid {node.pid} {HOST}:{node.port} {word}")
        secured = f", secured ({recorded.security})" if recorded.security else ""
        click.echo(f"  Kafka {recorded.version} at {recorded.bootstrap_servers}{secured}")
    if healthy:
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
def stop(timeout: float, data_dir: Path | None) -> None:
    """Stop the broker `kafka start` left running, by pid (SIGTERM, then SIGKILL); its data
    stays. Without --data: every broker `kafka start` recorded (not those of a running `run`)."""
    records = broker_records.folder()
    keys = (
        [_where(data_dir)[1]]
        if data_dir is not None
        else [key for key, _ in broker_records.recorded(records, broker_records.KAFKA_START)]
    )
    found = [(key, s) for key in keys for s in [broker_records.load(records, key)] if s is not None]
    if not found:
        click.echo(f"no Kafka recorded in {records}; nothing to stop")
        return
    for key, recorded in found:
        pids = recorded.running_pids()
        try:
            jvm_process.stop_pids(pids, timeout)
        except BrokerError as exc:
            raise click.ClickException(str(exc)) from exc
        broker_records.clear(records, key)
        click.echo(
            f"stopped Kafka at {recorded.bootstrap_servers} (pids {pids})"
            if pids
            else f"Kafka at {recorded.bootstrap_servers} was not running; record cleared"
        )


def _env_file(data_dir: Path) -> Path:
    """The 0600 file with a secured broker's client variables (the admin's password too)."""
    return data_dir / "client.env"


def _where(data_dir: Path | None) -> tuple[Path, str]:
    """The data folder (given or the default) and its record key."""
    folder = (data_dir or broker_records.default_data_dir()).resolve()
    return folder, broker_records.kafka_start_key(folder)


__all__ = ["kafka"]
