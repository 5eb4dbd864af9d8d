"""Looping events for the crash tests: every event visits `visit` three times through a cycle.

    visit -> check --(visits < 3)--> visit
                   --(visits = 3)--> done   (its result goes to <prefix>.loop.out)

Each event makes seven records on its way (3 x visit, 3 x check, done), so a crash mid-stream
replays the work of every step topic whose offsets were not yet committed.
"""

from __future__ import annotations

from typing import Any

import streamgraph as sg
from streamgraph.engines.kafka import lazy_app
from streamgraph.steps import Choice

VISITS = 3


def visit(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "visits": body.get("visits", 0) + 1}


class Check(Choice):
    def select_outlets(self, body: dict[str, Any]) -> list[str]:
        return ["done"] if body["visits"] >= VISITS else ["visit"]


def build_function() -> sg.ServingFunction:
    function = sg.new_function("loop", namespace={"visit": visit, "Check": Check})
    graph = function.set_topology("flow", engine="async", allow_cyclic=True, max_iterations=10)
    graph.to(name="visit", handler="visit").to(name="check", class_name="Check").cycle_to(
        ["visit"]
    ).to(name="done", handler="(event)")
    return function


function = build_function()
__getattr__ = lazy_app(__name__)  # `app`: the Faust app, built on first use
