"""The 3-step pipeline (enrich, score, label) answering its caller: for the HTTP gateway.

Same steps as `topologies.pipeline`, but `label` responds, so a request through
`streamgraph gateway topologies.pipeline_reply` gets the labelled event back.
"""

from __future__ import annotations

import streamgraph as sg
from streamgraph.engines.kafka import lazy_app
from topologies.pipeline import enrich, label, score


def build_function() -> sg.ServingFunction:
    function = sg.new_function(
        "pipeline-reply", namespace={"enrich": enrich, "score": score, "label": label}
    )
    graph = function.set_topology("flow", engine="async")
    graph.to(name="enrich", handler="enrich").to(name="score", handler="score").to(
        name="label", handler="label"
    ).respond()
    return function


function = build_function()
__getattr__ = lazy_app(__name__)  # `app`, the Faust app, built on first use (faust -A)
