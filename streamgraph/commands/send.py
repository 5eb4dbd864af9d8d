"""`streamgraph send TOPOLOGY < events.jsonl`: events in from stdin, answers out as they come.

Each line is one JSON event, sent to the function's entry topic with this command's own reply
topic (as the gateway does), so every answer, error or stream is matched to its line. Answers
print as JSON lines on stdout in arrival order; the progress bar goes to stderr.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click
import orjson

from ..core.event import Event
from ..errors import HTTPError, KafkaAccessError, describe
from ..settings import Settings
from .common import brokers_option, connect, load, pick_function, topology_argument

# how long connecting to the broker (and creating the reply topic) may take
START_TIMEOUT = 60.0


def read_events(lines: list[str]) -> list[tuple[int, Any]]:
    """(line number, body) per non-blank line; a line that is not JSON is refused by number."""
    events = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            events.append((number, orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            raise click.ClickException(f"line {number} is not JSON: {exc}") from exc
    return events


async def send_all(
    function_name: str,
    events: list[tuple[int, Any]],
    settings: Settings,
    path: str,
    concurrency: int,
    on_answer: Any,
) -> None:
    """Send every event (at most `concurrency` waiting at once); `on_answer(line, status, body)`."""
    from ..connection.kafka_security import kafka_security
    from ..wire.requester import KafkaRequester

    requester = KafkaRequester(
        settings.brokers, settings.topic(function_name, "in"), security=kafka_security(settings)
    )
    try:  # an unreachable broker: fail saying so, never hang
        await asyncio.wait_for(requester.start(), START_TIMEOUT)
    except KafkaAccessError as exc:  # a refused login, certificate or ACL: its one line
        raise click.ClickException(str(exc)) from None
    except TimeoutError:
        raise click.ClickException(
            f"could not connect to Kafka at {settings.brokers} within {START_TIMEOUT:.0f} s"
        ) from None
    slots = asyncio.Semaphore(concurrency)

    async def one(number: int, body: Any) -> None:
        async with slots:
            event = Event(body, None, path, "POST", {}, "application/json")
            value: Any
            try:
                answer = await requester.request(event, settings.request_timeout_seconds)
                if answer.chunks is not None:
                    status, value = 200, [chunk async for chunk in answer.chunks]
                else:
                    status, value = answer.status, answer.body
            except Exception as exc:
                status = exc.status_code if isinstance(exc, HTTPError) else 500
                value = {"error": describe(exc)}
        on_answer(number, status, value)

    try:
        await asyncio.gather(*(one(number, body) for number, body in events))
    finally:
        await requester.stop()


@click.command()
@topology_argument
@click.option("--function", "function", default=None, help="Send to this child function.")
@click.option("--path", default="/", show_default=True, help="The request path of every event.")
@click.option("--concurrency", default=32, show_default=True, help="Events waiting at once.")
@brokers_option
def send(
    topology: str, function: str | None, path: str, concurrency: int, brokers: str | None
) -> None:
    """Send JSON lines from stdin to TOPOLOGY's function running on Kafka; print the answers.

    Workers must be running (`streamgraph worker`, or `streamgraph run`). Each answer prints as
    {"line": N, "status": S, "answer": ...}; the exit status is 1 when any got a 5xx.
    """
    target = pick_function(load(topology), function)
    events = read_events(sys.stdin.readlines())  # bad input is refused before connecting
    settings = connect(brokers)
    failures = 0
    with click.progressbar(length=len(events), label="answers", file=sys.stderr) as bar:

        def on_answer(number: int, status: int, body: Any) -> None:
            nonlocal failures
            failures += status >= 500
            line = {"line": number, "status": status, "answer": body}
            click.echo(orjson.dumps(line, default=str).decode())
            bar.update(1)

        asyncio.run(send_all(target.name, events, settings, path, concurrency, on_answer))
    click.echo(f"{len(events)} events sent to {target.name}, {failures} failed", err=True)
    if failures:
        raise SystemExit(1)


__all__ = ["read_events", "send", "send_all"]
