"""Merge state expires actively on the real broker: entries deleted, tombstones, a counter."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from workers import collect, reading

import streamgraph as sg
from streamgraph.engines.kafka.state.expiry import expiry_interval
from streamgraph.testing import serve

pytestmark = pytest.mark.kafka


def _merge_with_a_lossy_branch() -> sg.ServingFunction:
    """Branch `b` drops odd numbers, so their merges never complete."""
    fn = sg.new_function("expiry")
    graph = fn.set_topology("flow", engine="async")
    graph.to(name="s", handler="(event)")
    graph.add_step(name="a", handler="(event)", after="s")
    graph.add_step("storey.Filter", name="b", _fn="(event % 2 == 0)", after="s")
    graph.add_step("mlrun.serving.Merge", name="m", after=["a", "b"])
    return fn


async def _last_values(
    brokers: str, changelog: str, done: Callable[[dict[bytes, bytes | None]], bool]
) -> dict[bytes, bytes | None]:
    """Each key's last committed value in `changelog`, read until `done` holds (30 s at most)."""
    last: dict[bytes, bytes | None] = {}
    deadline = time.monotonic() + 30
    async with reading(brokers, changelog, "read_committed") as consumer:
        while not done(last) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for messages in batch.values():
                for record in messages:  # one partition per key: offsets order its writes
                    last[record.key] = record.value
    return last


# exactly_once writes a Merge's tombstones (state_table.py) in transactions of the partitions'
# producers
@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_incomplete_merges_are_deleted_with_changelog_tombstones(
    kafka_broker: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    guarantee: str,
) -> None:
    monkeypatch.setenv("STREAMGRAPH_MERGE_TTL_SECONDS", "1")
    monkeypatch.setenv("STREAMGRAPH_PROCESSING_GUARANTEE", guarantee)
    caplog.set_level(logging.INFO, logger="streamgraph.kafka")
    brokers = kafka_broker.bootstrap_servers
    server = serve(_merge_with_a_lossy_branch(), engine="kafka", brokers=brokers)
    try:
        graph = server.graph
        for n in range(10):
            assert server.test(body=n, event_id=f"e{n}") == {"id": f"e{n}"}
        merged = asyncio.run(collect(brokers, graph.topology.output, 5, 60))
        assert sorted(orjson.loads(m.value) for m in merged) == [[n, n] for n in range(0, 10, 2)]
        deadline = time.monotonic() + 60  # a wait, not a timing assertion
        while graph.counters.expired < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2 * expiry_interval(1.0))  # a timer run that finds nothing more
        assert graph.counters.expired == 5  # the odd events; completed merges are not counted
        table = graph.stateful.tables["m"].table
        assert len(table) == 0
        assert (graph.eos is not None) == (guarantee == "exactly_once")
        changelog = table.changelog
        odd = {f"e{n}".encode() for n in range(1, 10, 2)}
        last = asyncio.run(
            _last_values(
                brokers, changelog, lambda last: all(k in last and not last[k] for k in odd)
            )
        )
        assert odd <= set(last)
        assert all(last[key] is None for key in odd), "every expired entry ends in a tombstone"
        assert "incomplete merge/collector entries" in caplog.text
    finally:
        server.close()


def test_the_expiry_interval_follows_the_ttl() -> None:
    assert expiry_interval(1.0) == 0.5
    assert expiry_interval(20.0) == 5.0
    assert expiry_interval(3600.0) == 60.0
