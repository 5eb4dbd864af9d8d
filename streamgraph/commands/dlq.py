"""`streamgraph dlq replay`: send dead letters back to the step they failed in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..errors import StreamgraphError
from .common import brokers_option, choose_brokers

if TYPE_CHECKING:
    from ..engines.kafka.dlq import ReplayReport

INTERRUPTED = 130  # the shell's status for a command ended by SIGINT


@click.group()
def dlq() -> None:
    """Dead letters: records that could not be read or failed with no error handler."""


@dlq.command()
@click.argument("function")
@brokers_option
@click.option(
    "--idle",
    default=10.0,
    show_default=True,
    help="Give up when the dead-letter topic sends nothing for this many seconds before the "
    "replay reached its end (a safety bound; a replay ends as soon as it reached it).",
)
@click.option(
    "--settle",
    default=5.0,
    show_default=True,
    help="Then watch the dead-letter topic up to this many seconds for replayed records that "
    "fail again, to count them (0: do not watch).",
)
def replay(function: str, brokers: str | None, idle: float, settle: float) -> None:
    """Send FUNCTION's dead letters back to the step they failed in (after a fix).

    Each partition of <prefix>.FUNCTION.dlq is read up to its end as the command starts; a
    record that fails again lands after that end and waits for the next replay. Progress goes
    to stderr, the summary to stdout. Exit status 0; 1 when the replay stopped early or could
    not start; 130 on Ctrl-C (after committing what was delivered and printing the summary).
    """
    import asyncio

    from ..engines.kafka.dlq import DeadLetterReplay

    choice = choose_brokers(brokers)
    job = DeadLetterReplay(
        function,
        choice.settings,
        where_from=choice.source,
        idle_seconds=idle,
        settle_seconds=settle,
        progress=lambda line: click.echo(line, err=True),
    )
    try:
        asyncio.run(job.run())
    except KeyboardInterrupt:
        job.report.interrupted = True
        _summary(function, job.dlq, job.report)
        click.get_current_context().exit(INTERRUPTED)
    except StreamgraphError as exc:
        if job.report.total or job.report.skipped:  # it got somewhere: say how far
            _summary(function, job.dlq, job.report)
        raise click.ClickException(str(exc)) from None
    _summary(function, job.dlq, job.report)
    if job.report.stopped:
        raise click.ClickException(f"stopped early: {job.report.stopped}; run the replay again")


def _summary(function: str, topic: str, report: ReplayReport) -> None:
    for target, count in sorted(report.replayed.items()):
        click.echo(f"{count:>8} -> {target}")
    head = "interrupted: " if report.interrupted else ""
    click.echo(
        f"{head}replayed {report.total} dead letters of {function}; "
        f"skipped {report.skipped} (no origin topic)"
    )
    if report.watched_seconds is not None:
        left = "; left for the next replay" if report.failed_again else ""
        click.echo(
            f"failed again {report.failed_again} (back in {topic} within "
            f"{report.watched_seconds:.1f} s{left})"
        )
    elif report.total:
        why = "interrupted" if report.interrupted else "not watched: --settle 0"
        click.echo(f"failed again: unknown ({why})")


__all__ = ["dlq"]
