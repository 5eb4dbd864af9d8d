"""The `streamgraph` command: one click group, each concern adding its own subgroup.

Command bodies live beside what they drive (`streamgraph/broker/cli_commands.py` for `kafka`), so
this file stays a table of contents as `worker`, `gateway` and `run` arrive.
"""

from __future__ import annotations

import click

from streamgraph.broker.cli_commands import kafka


@click.group()
@click.version_option(package_name="streamgraph")
def main() -> None:
    """streamgraph: MLRun-style serving graphs run as stream processing on Kafka."""


main.add_command(kafka)


@main.command()
@click.argument("topology")
@click.option("--function", "function", default=None, help="Run this child function's steps.")
@click.option("-l", "--loglevel", default="info", show_default=True, help="Worker log level.")
@click.option("--web-port", type=int, default=None, help="Serve Faust's web views on this port.")
@click.option(
    "--model",
    "model",
    default=None,
    help="Serve this dedicated_process shared model (a model worker) instead of the steps.",
)
def worker(
    topology: str, function: str | None, loglevel: str, web_port: int | None, model: str | None
) -> None:
    """Run TOPOLOGY's function (e.g. topologies.cyclic) as a Faust worker on Kafka.

    The broker comes from STREAMGRAPH_BROKERS (default 127.0.0.1:9092).
    """
    from streamgraph.engines.kafka.worker import run_worker

    run_worker(topology, function=function, loglevel=loglevel, web_port=web_port, model=model)


__all__ = ["main"]


@main.command()
@click.argument("topology")
@click.option("--function", "function", default=None, help="Serve this child function instead.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--brokers", default=None, help="Bootstrap servers (default: STREAMGRAPH_BROKERS).")
def gateway(topology: str, function: str | None, host: str, port: int, brokers: str | None) -> None:
    """Serve TOPOLOGY's function over HTTP; its workers run it on Kafka."""
    from aiohttp import web

    from streamgraph.engines.kafka.worker import load_topology, topology_function
    from streamgraph.gateway import gateway_app
    from streamgraph.settings import Settings

    serving = topology_function(load_topology(topology))
    settings = Settings(brokers=brokers) if brokers else Settings()
    click.echo(
        f"gateway for {function or serving.name} on http://{host}:{port}/ -> {settings.brokers}"
    )
    web.run_app(gateway_app(function or serving.name, settings), host=host, port=port)


@main.group()
def dlq() -> None:
    """Dead letters: records that could not be read or failed with no error handler."""


@dlq.command()
@click.argument("function")
@click.option("--brokers", default=None, help="Bootstrap servers (default: STREAMGRAPH_BROKERS).")
@click.option("--idle", default=2.0, show_default=True, help="Stop after this many idle seconds.")
def replay(function: str, brokers: str | None, idle: float) -> None:
    """Send FUNCTION's dead letters back to the step they failed in (after a fix)."""
    import asyncio

    from streamgraph.engines.kafka.dlq import replay_dead_letters
    from streamgraph.settings import Settings

    settings = Settings(brokers=brokers) if brokers else Settings()
    report = asyncio.run(replay_dead_letters(function, settings, idle_seconds=idle))
    for topic, count in sorted(report.replayed.items()):
        click.echo(f"{count:>8} -> {topic}")
    click.echo(f"replayed {report.total} dead letters of {function}; skipped {report.skipped}")


if __name__ == "__main__":
    main()
