"""`streamgraph run TOPOLOGY`: the whole stack in one command, demo requests, then serve.

On Kafka (the default): a local broker unless `--brokers` is given (the one `streamgraph kafka
start` left running is reused), a worker per function (child functions and dedicated model
processes too), and the gateway; all are processes of a `Deployment`, logging to files in a run
folder, stopped by pid on Ctrl-C, SIGTERM, errors and exit. `--local` serves the same HTTP
surface on the in-process engine, in this process. `--exit-after-demo` stops after the demo
answers (what `make run` does); without it the stack serves until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import signal
import time
from types import FrameType
from typing import Any

import click

from ..broker.probe import HOST, free_ports, port_is_free
from ..errors import StreamgraphError
from .common import brokers_option, load, topology_argument
from .demo import DemoRequest, demo_requests, run_demos

DEMO_TIMEOUT = 60.0
EXIT_NOTE = "--exit-after-demo: stopping now; without it the stack serves until Ctrl-C"


@click.command()
@topology_argument
@click.option(
    "--port", default=8080, show_default=True, type=int, help="HTTP port to serve on (0: any free)."
)
@brokers_option
@click.option("--local", is_flag=True, help="Serve on the in-process engine (no Kafka).")
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=None,
    help="Gateway processes sharing the port (see `streamgraph gateway --processes`).",
)
@click.option(
    "--exit-after-demo",
    is_flag=True,
    help="Stop everything and exit once the demo requests are answered (exit 1 on a 5xx).",
)
def run(
    topology: str,
    port: int,
    brokers: str | None,
    local: bool,
    processes: int | None,
    exit_after_demo: bool,
) -> None:
    """Run TOPOLOGY (such as topologies.cyclic) on Kafka behind the HTTP gateway, send its demo
    requests, print their answers, and serve until Ctrl-C."""
    from ..locate import load_module_of

    if processes is not None and local:
        raise click.UsageError("--local serves in this process: it takes no --processes")

    function = load(topology)
    requests = demo_requests(load_module_of(topology))
    port = port or free_ports(1)[0]
    if not port_is_free(port):
        raise click.ClickException(f"port {port} is in use; pick another with --port")
    if local:
        if brokers:
            raise click.UsageError("--local runs in process: it takes no --brokers")
        try:
            failures = asyncio.run(_serve_local(function, port, requests, exit_after_demo))
        except KeyboardInterrupt:  # Ctrl-C: the server was cleaned up on the way out
            failures = 0
    else:
        failures = _serve_kafka(
            function, topology, port, brokers, processes, requests, exit_after_demo
        )
    if failures:
        raise SystemExit(1)


def _intro(url: str, requests: list[DemoRequest]) -> None:
    click.echo(f"serving on {url}/")
    click.echo("try:")
    for request in requests or [DemoRequest("/", {"hello": "world"}, "POST")]:
        click.echo(f"  {request.curl(url)}")
    click.echo(f"  curl -s {url}/readyz")
    if requests:
        click.echo("demo requests:")


def _serve_kafka(
    function: Any,
    topology: str,
    port: int,
    brokers: str | None,
    processes: int | None,
    requests: list[DemoRequest],
    exit_after_demo: bool,
) -> int:
    from ..deploy import Deployment, worker_commands

    deployment = Deployment(
        function,
        brokers=brokers,
        port=port,
        reference=topology,
        gateway_processes=processes,
        owner="streamgraph run",
        brokers_source="from --brokers",
    )
    # SIGINT too: a shell starts background jobs with it ignored, so Python would not see it
    previous = {sig: signal.signal(sig, _exit_on_signal) for sig in STOP_SIGNALS}
    try:
        names = [name for name, _ in worker_commands(function, topology)] + ["gateway"]
        click.echo(f"starting {function.name}: {', '.join(names)}")
        try:
            deployment.start()
        except StreamgraphError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"run folder (logs): {deployment.folder}")
        click.echo(f"broker: {deployment.broker_note}")
        if deployment.broker is not None:  # ours: say how other clients reach it
            click.echo("streamgraph commands find it while this runs; other clients need:")
            click.echo(f"export STREAMGRAPH_BROKERS={deployment.brokers}")
        for child in deployment.children:
            click.echo(f"  {child.name:<28} pid {child.pid:<8} log {child.log.name}")
        _intro(deployment.url, requests)
        failures = asyncio.run(run_demos(deployment.url, requests, click.echo, DEMO_TIMEOUT))
        if exit_after_demo:
            click.echo(EXIT_NOTE)
            return failures
        click.echo("serving until Ctrl-C")
        while True:
            time.sleep(0.5)
            for child in deployment.dead():
                raise click.ClickException(child.exit_report())
    except KeyboardInterrupt:
        click.echo("\nstopping")
        return 0
    finally:
        deployment.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        click.echo(f"stopped every process of this run (logs stay in {deployment.folder})")


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # stop in order, as on Ctrl-C


async def _serve_local(
    function: Any, port: int, requests: list[DemoRequest], exit_after_demo: bool
) -> int:
    from aiohttp import web

    from ..gateway.in_process_app import local_gateway_app

    runner = web.AppRunner(local_gateway_app(function))
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        await web.TCPSite(runner, HOST, port).start()
        url = f"http://{HOST}:{port}"
        click.echo(f"{function.name} in process (no Kafka)")
        _intro(url, requests)
        failures = await run_demos(url, requests, click.echo, DEMO_TIMEOUT)
        if exit_after_demo:
            click.echo(EXIT_NOTE)
            return failures
        click.echo("serving until Ctrl-C")
        await stop.wait()
        return 0
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        await runner.cleanup()
        click.echo("stopped")


__all__ = ["run"]
