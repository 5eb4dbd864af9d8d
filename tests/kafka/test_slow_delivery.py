"""A delivery the broker keeps waiting is reported in the log while the worker waits for it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from streamgraph.engines.kafka import acks


async def test_a_slow_delivery_is_logged_until_it_arrives(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(acks, "SLOW_DELIVERY_SECONDS", 0.05)
    delivery = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.13, delivery.set_result, "metadata")
    with caplog.at_level(logging.WARNING, logger="streamgraph.kafka"):
        await acks.delivered(delivery)
    warnings = [r.getMessage() for r in caplog.records if "to acknowledge it" in r.getMessage()]
    assert len(warnings) == 2, warnings
    assert delivery.result() == "metadata"


async def test_a_failed_delivery_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acks, "SLOW_DELIVERY_SECONDS", 0.05)
    delivery = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.08, delivery.set_exception, RuntimeError("refused"))
    with pytest.raises(RuntimeError, match="refused"):
        await acks.delivered(delivery)
