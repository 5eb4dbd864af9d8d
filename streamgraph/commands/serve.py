"""`streamgraph worker` and `streamgraph gateway`: the two long-running processes of a function."""

from __future__ import annotations

import socket
import sys

import click

from .common import (
    brokers_option,
    connect,
    load,
    pick_function,
    security_note,
    settings_for,
    topology_argument,
)


@click.command()
@topology_argument
@click.option("--function", "function", default=None, help="Run this child function's steps.")
@click.option("-l", "--loglevel", default="info", show_default=True, help="Worker log level.")
@click.option("--web-port", type=int, default=None, help="Serve Faust's web views on this port.")
@click.option(
    "--metrics-port", type=int, default=None, help="Serve Prometheus /metrics on this port."
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Metrics address.")
@click.option(
    "--model",
    "model",
    default=None,
    help="Serve this dedicated_process shared model (a model worker) instead of the steps.",
)
@brokers_option
def worker(
    topology: str,
    function: str | None,
    loglevel: str,
    web_port: int | None,
    metrics_port: int | None,
    metrics_host: str,
    model: str | None,
    brokers: str | None,
) -> None:
    """Run TOPOLOGY's function (such as topologies.cyclic) as a Faust worker on Kafka.

    The broker: --brokers, STREAMGRAPH_BROKERS, the local Kafka `streamgraph kafka start` or
    `run` started, else 127.0.0.1:9092; none answering there is a one-line error (exit 1).
    """
    from .worker_process import run_worker

    settings = connect(brokers)
    run_worker(
        topology,
        function=function,
        loglevel=loglevel,
        web_port=web_port,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        model=model,
        settings=settings,
    )


@click.command()
@topology_argument
@click.option("--function", "function", default=None, help="Serve this child function instead.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@brokers_option
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=None,
    help="Gateway processes sharing the port (SO_REUSEPORT), each with its own reply topic "
    "(default: STREAMGRAPH_GATEWAY_PROCESSES, 1).",
)
@click.option("--reuse-port", is_flag=True, hidden=True, help="Bind with SO_REUSEPORT.")
def gateway(
    topology: str,
    function: str | None,
    host: str,
    port: int,
    brokers: str | None,
    processes: int | None,
    reuse_port: bool,
) -> None:
    """Serve TOPOLOGY's function over HTTP; its workers run it on Kafka."""
    from aiohttp import web

    from ..gateway import gateway_app
    from ..gc_tuning import tune_gc
    from ..loops import use_uvloop

    serving = pick_function(load(topology), function)
    settings = settings_for(brokers)
    secured = security_note(settings)  # (refused here, before any gateway process starts)
    processes = processes or settings.gateway_processes
    click.echo(
        f"gateway for {serving.name} on http://{host}:{port}/ -> {settings.brokers}{secured}"
        + (f" ({processes} processes)" if processes > 1 else "")
    )
    if processes > 1:
        from ..gateway.gateway_processes import run_gateway_processes

        port = port or _free_port(host)  # one port for all of them
        child = [sys.executable, "-m", "streamgraph.cli", "gateway", topology]
        child += ["--host", host, "--port", str(port), "--processes", "1", "--reuse-port"]
        child += ["--function", function] if function else []
        child += ["--brokers", brokers] if brokers else []
        raise SystemExit(run_gateway_processes(child, processes))
    use_uvloop()  # aiohttp's run_app makes its loop through the policy
    app = gateway_app(serving.name, settings, serving.spec.openai_frontend)
    tune_gc(settings)
    web.run_app(
        app,
        host=host,
        port=port,
        reuse_port=reuse_port or None,
        access_log=None,  # per-request work; /metrics counts requests by path and status
        print=None if reuse_port else print,  # children: the parent said where
    )


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        found: int = sock.getsockname()[1]
        return found


__all__ = ["gateway", "worker"]
