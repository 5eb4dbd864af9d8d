"""The guide's cyclic graph: preprocess, generate, evaluate, loop until good, respond.

Run it in process: `python -m topologies.cyclic`. On Kafka: `faust -A topologies.cyclic worker`
(or `streamgraph worker topologies.cyclic`), then produce JSON to `sg.cyclic-function.in`.
"""

from __future__ import annotations

import json

import streamgraph as sg
from agents.drafting import ChoiceHandler, Evaluator, Generator, HandleError, Processor, responder
from streamgraph.engines.kafka import build_app

NAMESPACE = {
    "Processor": Processor,
    "Generator": Generator,
    "Evaluator": Evaluator,
    "ChoiceHandler": ChoiceHandler,
    "HandleError": HandleError,
    "responder": responder,
}

DEMO_REQUESTS = [
    {"topic": "stream processing", "min_points": 3},
    {"topic": "serving graphs", "min_points": 50},
    {"min_points": 2},
]


def build_function() -> sg.ServingFunction:
    function = sg.new_function("cyclic-function", namespace=NAMESPACE)
    graph = function.set_topology("flow", engine="async", allow_cyclic=True, max_iterations=100)
    graph.to(name="preprocess", class_name="Processor").to(
        name="generator", class_name="Generator", after="preprocess", max_iterations=30
    ).to(name="evaluator", class_name="Evaluator", after="generator").to(
        name="evaluation-loop",
        class_name="ChoiceHandler",
        cycle_to=["generator"],
        after="evaluator",
    ).to(name="output", handler="responder", after="evaluation-loop").respond()
    graph.error_handler(name="handle-error", class_name="HandleError", full_event=True)
    return function


function = build_function()
app = build_app(function)  # the Faust app `faust -A topologies.cyclic worker` runs


def main() -> None:
    server = function.to_mock_server()
    for body in DEMO_REQUESTS:
        print(f"POST / {json.dumps(body)}")
        print(f"  -> {json.dumps(server.test(body=body))}")
    server.wait_for_completion()


if __name__ == "__main__":
    main()
