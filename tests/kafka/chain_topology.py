"""A 3-step flow for the exactly-once crash tests: each step adds to the body, one topic each.

    parse -> score -> finish   (its result goes to <prefix>.chain.out)

A step's input that is lost or processed twice shows as a missing or doubled answer.
"""

from __future__ import annotations

from typing import Any

import streamgraph as sg
from streamgraph.engines.kafka import lazy_app


def parse(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "steps": ["parse"]}


def score(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "score": body["n"] * 2, "steps": [*body["steps"], "score"]}


def finish(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "steps": [*body["steps"], "finish"]}


def build_function() -> sg.ServingFunction:
    function = sg.new_function(
        "chain", namespace={"parse": parse, "score": score, "finish": finish}
    )
    graph = function.set_topology("flow", engine="async")
    graph.to(name="parse", handler="parse").to(name="score", handler="score").to(
        name="finish", handler="finish"
    )
    return function


function = build_function()
__getattr__ = lazy_app(__name__)  # `app`: the Faust app, built on first use
