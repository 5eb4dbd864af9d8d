"""The guide's cyclic graph: preprocess, generate, evaluate, loop until good, respond.

Run it in process: `python -m topologies.cyclic`. On Kafka: `faust -A topologies.cyclic worker`
(or `streamgraph worker topologies.cyclic`), then produce JSON to `sg.cyclic-function.in`.
"""

from __future__ import annotations

from typing import Any

import streamgraph as sg
from agents.drafting import ChoiceHandler, Evaluator, Generator, HandleError, Processor, responder
from streamgraph.engines.kafka import lazy_app

NAMESPACE = {
    "Processor": Processor,
    "Generator": Generator,
    "Evaluator": Evaluator,
    "ChoiceHandler": ChoiceHandler,
    "HandleError": HandleError,
    "responder": responder,
}

DEMO_REQUESTS: list[dict[str, Any]] = [
    {"path": "/", "body": {"topic": "stream processing", "min_points": 3}},
    {"path": "/", "body": {"topic": "serving graphs", "min_points": 50}},  # past the limit
    {"path": "/", "body": {"min_points": 2}},  # no topic: the error handler answers
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
__getattr__ = lazy_app(__name__)  # `app`, the Faust app, built on first use (faust -A)


def main() -> None:
    from topologies._demo import run_demo

    run_demo(function, DEMO_REQUESTS)


if __name__ == "__main__":
    main()
