"""A Merge's entries outlive its worker: a restarted worker reads them back from the changelog.

One event of a pair is processed, the worker stops (its input committed, the entry only in the
changelog), a new worker starts, the pair's second event arrives: the answer needs the first
event's entry, read back when the new worker was assigned the partitions.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from workers import WorkerFactory, body, collect, produce

pytestmark = pytest.mark.kafka


def _event(event_id: str, part: str) -> tuple[bytes, bytes, list[Any]]:
    return event_id.encode(), orjson.dumps({"order": "o-1", "part": part}), []


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_a_restarted_worker_completes_a_merge_begun_before(
    factory: WorkerFactory, guarantee: str
) -> None:
    factory.env["STREAMGRAPH_PROCESSING_GUARANTEE"] = guarantee
    brokers, entry = factory.brokers, factory.topic("keyed", "in")
    changelog = f"{factory.prefix}.keyed-{factory.prefix}.keyed.pair.state-changelog"
    first = factory.start("keyed_merge_topology")
    asyncio.run(produce(brokers, entry, [_event("a", "first")]))
    written = asyncio.run(collect(brokers, changelog, 1, 60, isolation_level="read_committed"))
    assert written, "the first event's Merge entry reached the changelog within 60 s"
    first.stop()  # a clean stop: its input committed, so only the changelog holds the entry
    if guarantee == "exactly_once":
        assert "stopped the transactional producers of" in first.log()
    second = factory.start("keyed_merge_topology")
    asyncio.run(produce(brokers, entry, [_event("b", "second")]))
    out = factory.topic("keyed", "out")
    answers = asyncio.run(collect(brokers, out, 1, 60, isolation_level="read_committed"))
    assert [sorted(part["part"] for part in body(m)) for m in answers] == [["first", "second"]]
    assert "restored 1 entries" in second.log()
