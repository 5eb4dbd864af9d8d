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
def worker(topology: str, function: str | None, loglevel: str, web_port: int | None) -> None:
    """Run TOPOLOGY's function (e.g. topologies.cyclic) as a Faust worker on Kafka.

    The broker comes from STREAMGRAPH_BROKERS (default 127.0.0.1:9092).
    """
    from streamgraph.engines.kafka.worker import run_worker

    run_worker(topology, function=function, loglevel=loglevel, web_port=web_port)


__all__ = ["main"]


if __name__ == "__main__":
    main()
