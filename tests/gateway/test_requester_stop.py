"""Stopping a requester is bounded even when a background task does not obey its cancel (on
Python 3.11 an inner `wait_for` finishing in the same moment swallows it): a gateway's shutdown
must never hang on one."""

from __future__ import annotations

import asyncio
import time

import pytest

from streamgraph.connection.kafka_security import KafkaSecurity
from streamgraph.wire import requester as requester_module
from streamgraph.wire.requester import KafkaRequester


async def _stubborn(released: asyncio.Event) -> None:
    while not released.is_set():
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            continue  # what a swallowed cancellation amounts to


async def test_stop_returns_although_a_task_ignores_its_cancel(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(requester_module, "STOP_TIMEOUT", 0.3)
    requester = KafkaRequester("127.0.0.1:9", "entry", security=KafkaSecurity())
    released = asyncio.Event()
    stubborn = asyncio.create_task(_stubborn(released))
    requester._keeper = stubborn
    await asyncio.sleep(0.1)  # running, in its loop (a task cancelled before its start just ends)
    started = time.monotonic()
    await requester.stop()
    assert time.monotonic() - started < 2.0
    assert not stubborn.done()  # left behind, not waited for
    assert "gave up waiting for a gateway background task to end" in caplog.text
    assert not requester.ready and requester.waiting_for == "the gateway is stopping"
    released.set()
    await asyncio.wait_for(stubborn, 1.0)
