"""`streamgraph dlq replay`: send dead letters back to the step they failed in."""

from __future__ import annotations

import click

from .common import brokers_option, settings_for


@click.group()
def dlq() -> None:
    """Dead letters: records that could not be read or failed with no error handler."""


@dlq.command()
@click.argument("function")
@brokers_option
@click.option("--idle", default=2.0, show_default=True, help="Stop after this many idle seconds.")
def replay(function: str, brokers: str | None, idle: float) -> None:
    """Send FUNCTION's dead letters back to the step they failed in (after a fix)."""
    import asyncio

    from ..engines.kafka.dlq import replay_dead_letters

    report = asyncio.run(replay_dead_letters(function, settings_for(brokers), idle_seconds=idle))
    for topic, count in sorted(report.replayed.items()):
        click.echo(f"{count:>8} -> {topic}")
    click.echo(f"replayed {report.total} dead letters of {function}; skipped {report.skipped}")


__all__ = ["dlq"]
