"""A 3-step flow for throughput, crash and scale-out runs: enrich, score, label.

Events are JSON objects; every step adds a field, and the last step's result goes to the
function's output topic `sg.pipeline.out` (no responder: it is a streaming pipeline).

    streamgraph worker topologies.pipeline        # or: faust -A topologies.pipeline worker
    echo '{"n": 1}' | kcat -P -b 127.0.0.1:9092 -t sg.pipeline.in
"""

from __future__ import annotations

from typing import Any

import streamgraph as sg
from streamgraph.engines.kafka import lazy_app


def enrich(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "enriched": True}


def score(body: dict[str, Any]) -> dict[str, Any]:
    n = body.get("n", 0)
    return {**body, "score": (n * 7919) % 100}


def label(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "label": "high" if body["score"] >= 50 else "low"}


def build_function() -> sg.ServingFunction:
    function = sg.new_function(
        "pipeline", namespace={"enrich": enrich, "score": score, "label": label}
    )
    graph = function.set_topology("flow", engine="async")
    graph.to(name="enrich", handler="enrich").to(name="score", handler="score").to(
        name="label", handler="label"
    )
    return function


function = build_function()
__getattr__ = lazy_app(__name__)  # `app`, the Faust app, built on first use (faust -A)
