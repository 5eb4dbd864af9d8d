"""A small cyclic flow for the metrics tests: count up to `want`, fail on `bad`, respond."""

from __future__ import annotations

from typing import Any

import streamgraph as sg
from streamgraph.engines.kafka import lazy_app
from streamgraph.steps import Choice


def count(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("bad"):
        raise ValueError("bad input")
    return {**body, "n": body.get("n", 0) + 1}


class Enough(Choice):
    def select_outlets(self, body: dict[str, Any]) -> list[str]:
        return ["done"] if body["n"] >= body["want"] else ["count"]


def build_function() -> sg.ServingFunction:
    fn = sg.new_function("counter", namespace={"count": count, "Enough": Enough})
    graph = fn.set_topology("flow", engine="async", allow_cyclic=True)
    graph.to(name="count", handler="count").to(name="enough", class_name="Enough").cycle_to(
        ["count"]
    ).to(name="done", handler="(event)").respond()
    return fn


function = build_function()
__getattr__ = lazy_app(__name__)  # `app`: the Faust app, built on first use
