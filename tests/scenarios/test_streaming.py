"""Scenarios: streaming steps, chunks, Collector, batches."""

from __future__ import annotations

import pytest
import steps_lib
from steps_lib import AsyncStreamer, Streamer, record  # noqa: F401

import streamgraph as sg
from streamgraph.testing import serve


def test_generator_step_answers_with_a_stream(engine: str) -> None:
    fn = sg.new_function("stream")
    fn.set_topology("flow").to("Streamer", name="s", chunks=3).respond()
    answer = serve(fn, engine=engine).test(body="hi")
    assert not isinstance(answer, list | str)
    assert list(answer) == ["hi-0", "hi-1", "hi-2"]


def test_steps_after_a_stream_run_per_chunk(engine: str) -> None:
    fn = sg.new_function("per-chunk")
    fn.set_topology("flow").to("AsyncStreamer", name="s").to(
        name="tag", handler="(event['i'] * 10)"
    ).respond()
    assert list(serve(fn, engine=engine).test(body="x")) == [0, 10, 20]


def test_collector_gathers_the_stream(engine: str) -> None:
    fn = sg.new_function("collect")
    fn.set_topology("flow").to("Streamer", name="s", chunks=4).to(
        "storey.Collector", name="c"
    ).respond()
    assert serve(fn, engine=engine).test(body="a") == ["a-0", "a-1", "a-2", "a-3"]


def test_streaming_after_a_collector_is_fine(engine: str) -> None:
    fn = sg.new_function("restream")
    fn.set_topology("flow").to("Streamer", name="s1", chunks=2).to("Collector", name="c").to(
        name="join", handler="('+'.join(event))"
    ).to("Streamer", name="s2", chunks=2).respond()
    assert list(serve(fn, engine=engine).test(body="z")) == ["z-0+z-1-0", "z-0+z-1-1"]


def test_streaming_on_top_of_streaming_is_refused_when_built() -> None:
    fn = sg.new_function("stacked")
    fn.set_topology("flow").to("Streamer", name="s1").to("Streamer", name="s2").respond()
    with pytest.raises(sg.GraphError, match="streaming on top of streaming"):
        fn.to_mock_server()


def test_error_mid_stream_reaches_caller_after_earlier_chunks(engine: str) -> None:
    fn = sg.new_function("broken-stream")
    fn.set_topology("flow").to("Streamer", name="s", chunks=5, fail_at=2).respond()
    chunks = iter(serve(fn, engine=engine).test(body="q"))
    assert next(chunks) == "q-0"
    assert next(chunks) == "q-1"
    with pytest.raises(RuntimeError, match="stream broke at 2"):
        next(chunks)


async def test_atest_streams_asynchronously(engine: str) -> None:
    fn = sg.new_function("astream")
    fn.set_topology("flow").to("AsyncStreamer", name="s").respond()
    server = serve(fn, engine=engine)
    answer = await server.atest(body="b")
    got = [chunk async for chunk in answer]
    assert got == [{"i": 0, "of": "b"}, {"i": 1, "of": "b"}, {"i": 2, "of": "b"}]
    server.wait_for_completion()


@pytest.mark.refused_under_exactly_once  # (a Batch step)
def test_batch_emits_lists_and_flushes_the_rest_on_completion(engine: str) -> None:
    steps_lib.seen.clear()
    fn = sg.new_function("batch")
    fn.set_topology("flow").to("storey.Batch", name="b", max_events=2).to(
        name="rec", handler="record"
    )
    server = serve(fn, engine=engine)
    for i in range(5):
        server.test(body=i)
    server.wait_for_completion()
    assert steps_lib.seen == [[0, 1], [2, 3], [4]]


@pytest.mark.refused_under_exactly_once  # (a Batch step)
def test_batch_flushes_after_timeout_and_answers_each_request(engine: str) -> None:
    fn = sg.new_function("batch-answer")
    fn.set_topology("flow").to("Batch", name="b", max_events=10, flush_after_seconds=0.05).to(
        name="square_all", handler="([x * x for x in event])"
    ).respond()
    server = serve(fn, engine=engine)
    assert server.test(body=3) == 9
    server.wait_for_completion()
