"""Scenarios: a Batch step means the same on every engine (`core.batching`), as in storey.

No timer unless `flush_after_seconds` is given, no size bound unless `max_events` is given, and
each visit of a Batch in a cycle counts towards `max_iterations`.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import steps_lib
from steps_lib import LoopBack, count_batch, record, record_error  # noqa: F401

import streamgraph as sg
from streamgraph.testing import serve

# how long "nothing happened" is watched: far beyond any flush an engine might invent (1 s)
QUIET_SECONDS = 4.0


@pytest.mark.refused_under_exactly_once  # (a Batch step)
def test_batch_with_only_max_events_has_no_timer(engine: str) -> None:
    steps_lib.seen.clear()
    fn = sg.new_function("batch-by-size")
    fn.set_topology("flow").to("storey.Batch", name="b", max_events=3).to(
        name="rec", handler="record"
    )
    server = serve(fn, engine=engine)
    server.test(body=0)
    server.test(body=1)
    time.sleep(QUIET_SECONDS)
    assert steps_lib.seen == []  # two of three: held, however long it waits
    server.test(body=2)
    server.wait_for_completion()
    assert steps_lib.seen == [[0, 1, 2]]


@pytest.mark.refused_under_exactly_once  # (a Batch step)
async def test_batch_with_only_flush_after_seconds_has_no_size_bound(engine: str) -> None:
    steps_lib.seen.clear()
    fn = sg.new_function("batch-by-time")
    # a timer that never fires within the test: the batch ends when the graph is drained
    fn.set_topology("flow").to("storey.Batch", name="b", flush_after_seconds=600).to(
        name="rec", handler="record"
    )
    server = serve(fn, engine=engine)
    count = 1200  # more than any default size bound an engine might invent (1000)
    for start in range(0, count, 200):
        await asyncio.gather(*(server.atest(body=i) for i in range(start, start + 200)))
    server.wait_for_completion()
    assert [len(batch) for batch in steps_lib.seen] == [count]
    assert sorted(steps_lib.seen[0]) == list(range(count))


@pytest.mark.refused_under_exactly_once  # (a Batch step)
def test_batch_in_a_cycle_counts_towards_max_iterations(engine: str) -> None:
    steps_lib.seen.clear()
    fn = sg.new_function("batch-loop")
    graph = fn.set_topology("flow", allow_cyclic=True)
    assert isinstance(graph, sg.RootFlowStep)
    graph.to("storey.Batch", name="b", max_events=1, max_iterations=3).to(
        name="count", handler="count_batch"
    ).to("LoopBack", name="check", back="b", out="done").cycle_to(["b"]).to(
        name="done", handler="record"
    )
    graph.error_handler(name="catch", handler="record_error", full_event=True)
    server = serve(fn, engine=engine)
    server.test(body={"n": 0, "target": 10}, event_id="e1")
    server.wait_for_completion()
    # three visits of b ran; the fourth broke its limit and went to the error handler
    batches, caught = steps_lib.seen[:-1], steps_lib.seen[-1]
    assert [batch[0]["n"] for batch in batches] == [0, 1, 2]
    assert caught["origin"] == "b"
    assert "Max iterations exceeded in step 'b' for event e1" in caught["error"]


@pytest.mark.refused_under_exactly_once  # (a Batch step)
def test_sync_engine_answers_a_batched_request_with_the_last_result(engine: str) -> None:
    # the sync engine answers with the last step's result, also after a Batch (`Plan.
    # acks_at_start`): not `{"id"}` at once
    fn = sg.new_function("batch-sync")
    fn.set_topology("flow", engine="sync").to(
        "storey.Batch", name="b", max_events=3, flush_after_seconds=0.05
    ).to(name="square_all", handler="([x * x for x in event])")
    server = serve(fn, engine=engine)
    assert server.test(body=3) == 9
    server.wait_for_completion()
