"""`streamgraph inspect FUNCTION --request-id ID`: one request's records on every topic.

The id is the one the gateway answers with in `X-Request-Id` (the event id; a caller's own
`X-Request-Id` becomes it). The topics are read directly, from their start (or `--since`) up to
where they ended when the command began; see streamgraph/engines/kafka/request_scan.py.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime

import click
import orjson

from ..errors import StreamgraphError
from .common import brokers_option, connect

# how long finding the function's topics may take before the broker counts as unreachable
CONNECT_TIMEOUT = 30.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def since_ms(text: str | None, now: float | None = None) -> int | None:
    """`--since`: a duration back from now (90s, 10m, 2h, 1d) or an ISO time; epoch ms."""
    if text is None:
        return None
    duration = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if duration:
        seconds = float(duration[1]) * _UNITS[duration[2]]
        return int(((now if now is not None else time.time()) - seconds) * 1000)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a duration (90s, 10m, 2h, 1d) nor an ISO time",
            param_hint="--since",
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a time with no zone is local time
    return int(moment.timestamp() * 1000)


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


@click.command()
@click.argument("function")
@click.option("--request-id", "request_id", required=True, help="The X-Request-Id of a request.")
@brokers_option
@click.option(
    "--since", default=None, help="Only records newer than this: 10m, 2h, 1d or an ISO time."
)
@click.option(
    "--topic",
    "topics",
    multiple=True,
    help="Also read this topic (a queue topic of your own naming); repeatable.",
)
@click.option("--body-chars", default=200, show_default=True, help="Body preview length.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per record.")
def inspect(
    function: str,
    request_id: str,
    brokers: str | None,
    since: str | None,
    topics: tuple[str, ...],
    body_chars: int,
    as_json: bool,
) -> None:
    """Print the records of one request on every topic of FUNCTION, in time order.

    FUNCTION is the function's name (its topics are <prefix>.FUNCTION.*). Each record shows
    its step, time, topic, headers and the start of its body. Exit status 1 when none is found.
    """
    from ..connection.kafka_failures import hidden_note
    from ..connection.kafka_security import kafka_security
    from ..engines.kafka.request_scan import preview, scan

    settings = connect(brokers)

    def progress(line: str) -> None:
        click.echo(f"scanning {line}", err=True)

    try:
        result = asyncio.run(
            scan(
                settings.brokers,
                settings.topic_prefix,
                function,
                request_id,
                topics,
                since_ms(since),
                progress,
                CONNECT_TIMEOUT,
                security=kafka_security(settings),
            )
        )
    except StreamgraphError as exc:
        raise click.ClickException(str(exc)) from exc
    if not result.topics:
        raise click.ClickException(
            f"no topics of function {function} on {settings.brokers} "
            f"(looked for {settings.topic(function, '*')}"
            f"{hidden_note(kafka_security(settings))})"
        )
    if not result.found:
        click.echo(
            f"no records of request {request_id} on the {len(result.topics)} topics of "
            f"{function} ({result.records_read} records read)",
            err=True,
        )
        raise SystemExit(1)
    for record in result.found:
        headers = {name: raw.decode("utf-8", "replace") for name, raw in record.headers}
        body = preview(record, body_chars)
        if as_json:
            line = {
                "step": record.step,
                "time": _stamp(record.timestamp_ms),
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "headers": headers,
                "body": body,
            }
            click.echo(orjson.dumps(line).decode())
            continue
        click.echo(
            f"{_stamp(record.timestamp_ms)}  {record.step:<12} "
            f"{record.topic}[{record.partition}]@{record.offset}"
        )
        click.echo("    headers  " + " ".join(f"{k}={v}" for k, v in headers.items()))
        click.echo(f"    body     {body}")
    steps = len({r.step for r in result.found})
    click.echo(
        f"{len(result.found)} records of request {request_id} on {steps} topics of {function} "
        f"({len(result.topics)} topics, {result.records_read} records read)",
        err=True,
    )


__all__ = ["inspect", "since_ms"]
