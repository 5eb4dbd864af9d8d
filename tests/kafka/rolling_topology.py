"""A looping function for the rolling-restart test (tests/kafka/test_rolling_restart.py).

    visit -> check --(visits < 2)--> visit
                   --(visits = 2)--> done   (the responder)

`visit` appends `<id> <visits> <pid> <epoch seconds>` to the file ROLL_LOG_PATH each time it
runs, so the test counts the work the workers did twice across a restart, and when.
"""

from __future__ import annotations

import os
import time
from typing import Any

import streamgraph as sg
from streamgraph.engines.kafka import lazy_app
from streamgraph.steps import Choice

VISITS = 2


def visit(body: dict[str, Any]) -> dict[str, Any]:
    visits = body.get("visits", 0) + 1
    path = os.environ.get("ROLL_LOG_PATH")
    if path:  # one short line, one write: lines of concurrent workers never interleave
        with open(path, "a") as log:
            log.write(f"{body['id']} {visits} {os.getpid()} {time.time():.3f}\n")
    return {**body, "visits": visits}


class Check(Choice):
    def select_outlets(self, body: dict[str, Any]) -> list[str]:
        return ["done"] if body["visits"] >= VISITS else ["visit"]


def build_function() -> sg.ServingFunction:
    function = sg.new_function("roll", namespace={"visit": visit, "Check": Check})
    graph = function.set_topology("flow", engine="async", allow_cyclic=True, max_iterations=10)
    graph.to(name="visit", handler="visit").to(name="check", class_name="Check").cycle_to(
        ["visit"]
    ).to(name="done", handler="(event)").respond()
    return function


function = build_function()
__getattr__ = lazy_app(__name__)  # `app`: the Faust app, built on first use
