"""A Merge keyed on the body's order id: two separate events make one answer.

    tag -> pair (Merge, key_path="order", 2 events) -> <prefix>.keyed.out

The first event's entry waits in the Merge's table until the second arrives, so a worker that
restarts in between answers only if it read the entry back from the changelog.
"""

from __future__ import annotations

from typing import Any

import streamgraph as sg
from streamgraph.engines.kafka import lazy_app


def tag(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "tagged": True}


def build_function() -> sg.ServingFunction:
    function = sg.new_function("keyed", namespace={"tag": tag})
    graph = function.set_topology("flow", engine="async")
    graph.to(name="tag", handler="tag").to(
        "mlrun.serving.Merge", name="pair", key_path="order", expected_num_events=2
    )
    return function


function = build_function()
__getattr__ = lazy_app(__name__)  # `app`: the Faust app, built on first use
