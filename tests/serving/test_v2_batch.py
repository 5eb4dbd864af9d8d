"""A Batch step in front of a V2 model server: one predict call per batch, one answer each."""

from __future__ import annotations

import asyncio
from typing import Any

import streamgraph as sg
from streamgraph.testing import serve

calls: list[int] = []


class RowSum(sg.V2ModelServer):
    def load(self) -> None:
        self.model = "loaded"

    def predict(self, request: dict[str, Any]) -> Any:
        calls.append(len(request["inputs"]))
        return [sum(row) for row in request["inputs"]]


def _function(batch: bool) -> sg.ServingFunction:
    fn = sg.new_function("batched", namespace={"RowSum": RowSum})
    graph = fn.set_topology("flow")
    graph.to("storey.Batch", name="b", max_events=3, flush_after_seconds=0.05).to(
        "RowSum", name="model", batch=batch
    ).respond()
    return fn


def test_batched_requests_share_one_predict_and_are_answered_separately(engine: str) -> None:
    calls.clear()
    server = serve(_function(batch=True), engine=engine)
    answer = server.test(body={"inputs": [[1, 2], [3, 4]]})
    # one request alone flushes after the timeout: one call with its two rows
    assert answer["outputs"] == [3, 7]
    assert answer["model_name"] == "model"
    server.wait_for_completion()
    if engine == "local":
        assert calls == [2]


async def test_three_concurrent_requests_share_one_call(engine: str) -> None:
    calls.clear()
    server = serve(_function(batch=True), engine=engine)
    answers = await asyncio.gather(*(server.atest(body={"inputs": [[i, i]]}) for i in range(3)))
    assert sorted(a["outputs"][0] for a in answers) == [0, 2, 4]
    server.wait_for_completion()
    assert calls == [3]  # the batch filled up: one predict call for the three requests


def test_without_batch_flag_each_request_gets_its_own_call(engine: str) -> None:
    calls.clear()
    server = serve(_function(batch=False), engine=engine)
    answer = server.test(body={"inputs": [[5, 5]]})
    assert answer["outputs"] == [10]
    server.wait_for_completion()


def test_direct_batch_call_splits_outputs_per_request() -> None:
    calls.clear()
    model = RowSum(name="m", batch=True)
    model.post_init()
    event = sg.Event([{"inputs": [[1, 1]]}, {"inputs": [[2, 2], [3, 3]], "id": "b"}], "e1")
    answers = model.do_event(event)
    assert [a["outputs"] for a in answers] == [[2], [4, 6]]
    assert answers[1]["id"] == "b"
    assert calls == [3]
