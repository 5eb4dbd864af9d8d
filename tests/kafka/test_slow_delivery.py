"""A delivery the broker keeps waiting is reported in the log while the worker waits for it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from streamgraph.engines.kafka import acks


async def test_a_slow_delivery_is_logged_until_it_arrives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The delivery arrives right after the second warning (not at a time racing the timer):
    two warnings, then none once it is there."""
    monkeypatch.setattr(acks, "SLOW_DELIVERY_SECONDS", 0.05)
    delivery = asyncio.get_running_loop().create_future()
    warnings: list[str] = []

    class ArriveAfterTwo(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "to acknowledge it" in record.getMessage():
                warnings.append(record.getMessage())
                if len(warnings) == 2:
                    delivery.set_result("metadata")

    handler = ArriveAfterTwo(logging.WARNING)
    logging.getLogger("streamgraph.kafka").addHandler(handler)
    try:
        await acks.delivered(delivery)
        await asyncio.sleep(0.15)  # the timer is gone: no third warning comes
    finally:
        logging.getLogger("streamgraph.kafka").removeHandler(handler)
    assert len(warnings) == 2, warnings
    assert delivery.result() == "metadata"


async def test_a_failed_delivery_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acks, "SLOW_DELIVERY_SECONDS", 0.05)
    delivery = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.08, delivery.set_exception, RuntimeError("refused"))
    with pytest.raises(RuntimeError, match="refused"):
        await acks.delivered(delivery)
