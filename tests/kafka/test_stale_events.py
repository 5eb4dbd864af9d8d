"""Stale events (read before a rebalance) that `LeanStream.batches()` skips are counted and
logged, at most once per interval per stream, none lost.

No broker needed: the events are put on a Faust topic channel by hand, with the generation of
the consumer before a rebalance (the app's generation + 1 stands for "not the current one").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import faust
import pytest
from faust.types import Message

from streamgraph.engines.kafka.batches import LeanStream
from streamgraph.engines.kafka.stale_log import StaleLog

LOGGER = "streamgraph.kafka"
WAIT = 10.0  # seconds a timed line may take to come (it is due after `interval`)


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and "stale" in r.message]


async def test_batches_skip_stale_events_and_say_how_many(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", LOGGER)
    app = faust.App(
        f"stale-{uuid.uuid4().hex[:8]}",
        broker="kafka://127.0.0.1:1",  # never connected: nothing here starts the app
        Stream=LeanStream,
        loop=asyncio.get_running_loop(),
    )
    channel = app.topic("orders").clone(is_iterator=True)
    stream = app.stream(channel)
    assert isinstance(stream, LeanStream)
    app.flow_control.resume()  # as after a rebalance: only the generation tells stale events
    now = app.consumer_generation_id
    generations = [now + 1, now, now + 1, now, now + 1]  # 3 from before the rebalance
    for offset, generation in enumerate(generations):
        message = Message(
            "orders", 0, offset, 0.0, 0, {}, None, b"%d" % offset, None, generation_id=generation
        )
        await channel.put(faust.Event(app, None, message.value, {}, message))
    async with contextlib.aclosing(stream.batches(10)) as batches:
        batch = await asyncio.wait_for(anext(batches), WAIT)
    assert [event.value for event in batch] == [b"1", b"3"], "only the current generation's events"
    lines = _lines(caplog)
    assert len(lines) == 1, lines  # one line for the batch, none more when the stream stopped
    assert lines[0].startswith("skipped 3 stale events of orders"), lines


async def test_stale_counts_are_logged_at_most_once_per_interval_and_none_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", LOGGER)
    interval = 0.5
    stale = StaleLog("t1", interval=interval)
    stale.add(3)  # the first count: logged at once
    assert _lines(caplog) == [_line(3)]
    logged_at = time.monotonic()
    stale.add(2)  # within the interval: no line now, one when it is up, for both counts
    stale.add(4)
    assert len(_lines(caplog)) == 1
    deadline = time.monotonic() + WAIT
    while len(_lines(caplog)) < 2:
        assert time.monotonic() < deadline, f"no line for the counts within {WAIT:.0f} s"
        await asyncio.sleep(0.02)
    assert time.monotonic() - logged_at >= interval * 0.9  # (timer granularity)
    assert _lines(caplog)[1] == _line(6)
    stale.add(1)  # within the interval again: pending until closed, then logged at once
    stale.close()
    assert _lines(caplog)[2:] == [_line(1)]
    await asyncio.sleep(interval * 2)  # the cancelled timer says nothing more
    assert len(_lines(caplog)) == 3 and stale.total == 10 and stale.pending == 0


def _line(count: int) -> str:
    return (
        f"skipped {count} stale events of t1, read before a rebalance (or during one): not "
        "processed here; the partition's owner reads them again from its committed offset"
    )
