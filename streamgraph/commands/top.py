"""`streamgraph top TOPOLOGY`: a live table of a running function's steps, from its workers'
metrics (events/s, lag, step time p50/p99, errors; dead letters, in flight, workers).

The workers are the `--metrics URL`s given, else those of the `streamgraph run` (or
`fn.deploy()`) of this function running now (`streamgraph.run_records`: each worker it starts
serves its metrics on a port of its own). The numbers are computed in `top_data.py`; this
module scrapes and draws.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click

from .common import load, topology_argument
from .top_data import Snapshot, StepView, functions, parse_snapshot, step_view

SCRAPE_TIMEOUT = 2.0


@click.command()
@topology_argument
@click.option(
    "--metrics",
    "urls",
    multiple=True,
    help="A worker's metrics URL (http://host:port/metrics; repeat it for each worker). "
    "Default: the workers of the `streamgraph run` of TOPOLOGY running now.",
)
@click.option(
    "--interval", default=1.0, show_default=True, type=click.FloatRange(min=0.1), help="Seconds."
)
@click.option(
    "--once", is_flag=True, help="Scrape twice, --interval apart, print one table, and exit."
)
def top(topology: str, urls: tuple[str, ...], interval: float, once: bool) -> None:
    """Show TOPOLOGY's steps live (such as topologies.cyclic) while it runs on Kafka."""
    function = load(topology)
    endpoints = list(urls) or _recorded(function.name)
    if not endpoints:
        raise click.ClickException(
            f"no running worker of {function.name} found: start it with `streamgraph run "
            f"{topology}`, or give each worker's --metrics http://HOST:PORT/metrics "
            "(`streamgraph worker --metrics-port PORT`)"
        )
    names = [function.name, *function.child_functions]
    try:
        asyncio.run(_top(endpoints, names, interval, once))
    except KeyboardInterrupt:
        pass


def _recorded(function: str) -> list[str]:
    from .. import run_records

    for record in run_records.running():
        if record.function == function and record.workers:
            return list(record.workers.values())
    return []


async def _top(endpoints: list[str], names: list[str], interval: float, once: bool) -> None:
    import aiohttp
    from rich.console import Console
    from rich.live import Live

    timeout = aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        previous = await scrape(session, endpoints)
        if once:
            await asyncio.sleep(interval)
            now = await scrape(session, endpoints)
            Console(width=120).print(render(previous, now, names))
            return
        with Live(render(None, previous, names), auto_refresh=False) as live:
            while True:
                await asyncio.sleep(interval)
                now = await scrape(session, endpoints)
                live.update(render(previous, now, names), refresh=True)
                previous = now


async def scrape(session: Any, endpoints: list[str]) -> Snapshot:
    """Every endpoint's metrics at once; one that does not answer is named with why."""

    async def one(url: str) -> str:
        async with session.get(url) as answer:
            answer.raise_for_status()
            return str(await answer.text())

    answers = await asyncio.gather(*(one(url) for url in endpoints), return_exceptions=True)
    texts, failed = {}, {}
    for url, answer in zip(endpoints, answers, strict=True):
        if isinstance(answer, BaseException):
            failed[url] = str(answer) or type(answer).__name__
        else:
            texts[url] = answer
    return parse_snapshot(texts, time.monotonic(), failed)


def render(previous: Snapshot | None, now: Snapshot, names: list[str]) -> Any:
    """A table per function the workers report (TOPOLOGY's first, then its children)."""
    from rich.console import Group
    from rich.text import Text

    reported = functions(now)
    shown = [n for n in names if n in reported] + [n for n in reported if n not in names]
    parts: list[Any] = [_table(step_view(previous, now, name)) for name in shown]
    if not shown:
        parts.append(Text("no step metrics yet (are the workers started?)"))
    for url, why in sorted(now.failed.items()):
        parts.append(Text(f"{url}: no answer ({why})", style="red"))
    return Group(*parts)


def _table(view: StepView) -> Any:
    from rich.table import Table

    title = (
        f"{view.function}: {view.workers} worker{'s' if view.workers != 1 else ''}, "
        f"{_count(view.in_flight)} in flight, {_count(view.dead_letters)} dead letters"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("step")
    for column in ("events/s", "lag", "p50", "p99", "errors"):
        table.add_column(column, justify="right")
    for row in view.rows:
        table.add_row(
            row.name,
            "-" if row.events_per_second is None else f"{row.events_per_second:.1f}",
            "-" if row.lag is None else _count(row.lag),
            _seconds(row.p50),
            _seconds(row.p99),
            "" if row.name.startswith("(") else _count(row.errors),
        )
    return table


def _count(value: float) -> str:
    return f"{value:.0f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 0.001:
        return f"{value * 1e6:.0f} us"
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


__all__ = ["render", "scrape", "top"]
