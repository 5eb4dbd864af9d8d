"""Scenarios: a request past its deadline runs no more steps; nothing else is lost."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import steps_lib
from steps_lib import record  # noqa: F401

import streamgraph as sg
from streamgraph.testing import serve


async def slow(body: Any) -> Any:
    await asyncio.sleep(body.get("sleep", 0) if isinstance(body, dict) else 0)
    return body


def slow_then_record() -> sg.ServingFunction:
    fn = sg.new_function("deadlines")
    fn.set_topology("flow").to(name="slow", handler="slow").to(
        name="rec", handler="record"
    ).respond()
    return fn


def expired_counts(server: Any) -> dict[str, int]:
    graph = getattr(server, "graph", None)
    log = graph.executor.expired if hasattr(graph, "executor") else server.expired
    return dict(log.counts)


def test_no_step_runs_after_the_callers_timeout(engine: str) -> None:
    steps_lib.seen.clear()
    server = serve(slow_then_record(), engine=engine)
    late = server.test(
        body={"id": "late", "sleep": 0.6}, headers={"X-Request-Timeout": "0.2"}, silent=True
    )
    assert late.status_code == 504
    # the requests around it, with time enough, all get their answers
    for i in range(3):
        assert server.test(body={"id": i}, headers={"X-Request-Timeout": "20"}) == {"id": i}
    server.wait_for_completion()
    assert [item["id"] for item in steps_lib.seen] == [0, 1, 2]  # `rec` never ran for "late"
    assert expired_counts(server) == {"rec": 1}


@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan"])
def test_a_bad_request_timeout_is_a_400(engine: str, value: str) -> None:
    server = serve(slow_then_record(), engine=engine)
    response = server.test(body={"id": 1}, headers={"X-Request-Timeout": value}, silent=True)
    assert response.status_code == 400
    assert "X-Request-Timeout" in response.body["error"]
