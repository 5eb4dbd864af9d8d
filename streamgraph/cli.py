"""The `streamgraph` command: a table of contents; each body lives in its own module.

run                 streamgraph/commands/run.py              the whole stack, demo requests, serve
worker, gateway     streamgraph/commands/serve.py            the two long-running processes
kafka               streamgraph/broker/cli_commands.py       a local Kafka in the background
topics              streamgraph/commands/topics.py           create and list a topology's topics
send                streamgraph/commands/send.py             JSON lines in, answers out
describe, plot      streamgraph/commands/describe.py         the graph as text or as a picture
dlq replay          streamgraph/commands/dlq.py              dead letters back to their step
inspect             streamgraph/commands/inspect_request.py  one request's records on every topic
acls                streamgraph/commands/acls.py             the Kafka ACLs a function needs
top                 streamgraph/commands/top.py              a running function's steps, live
manifests           streamgraph/commands/manifests.py        Kubernetes YAML from the graph
"""

from __future__ import annotations

import os
import sys

import click

from streamgraph.broker.cli_commands import kafka
from streamgraph.commands.acls import acls
from streamgraph.commands.describe import describe, plot
from streamgraph.commands.dlq import dlq
from streamgraph.commands.inspect_request import inspect
from streamgraph.commands.manifests import manifests
from streamgraph.commands.run import run
from streamgraph.commands.send import send
from streamgraph.commands.serve import gateway, worker
from streamgraph.commands.top import top
from streamgraph.commands.topics import topics


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="streamgraph")
def main() -> None:
    """streamgraph: MLRun-style serving graphs run as stream processing on Kafka."""
    working_folder_first()


def working_folder_first() -> None:
    """Put the working folder first on sys.path, as `python -m`, uvicorn and celery do: the
    TOPOLOGY modules of the folder a command runs in (the repository's examples,
    `topologies.NAME`, from its root) import, and so do they in the processes `run` and
    `deploy()` start (they hand sys.path on as PYTHONPATH). Runs before any subcommand."""
    folder = os.getcwd()
    if folder not in sys.path:
        sys.path.insert(0, folder)


COMMANDS = (
    run,
    worker,
    gateway,
    kafka,
    topics,
    send,
    describe,
    plot,
    dlq,
    inspect,
    acls,
    top,
    manifests,
)
for command in COMMANDS:
    main.add_command(command)

__all__ = ["main"]

if __name__ == "__main__":
    main()
