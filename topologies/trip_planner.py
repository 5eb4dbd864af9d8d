"""The guide's multi-agent trip orchestrator, a cyclic graph: the main demo (`make run`).

A router agent reads the question and sends it to the weather agent (a weather tool) and the
trip-planning agent (a search tool over agents/data/places.json), each of which cycles back to
the router, then to the response agent. The agents are deterministic rules; when an
OpenAI-compatible LLM is configured (`STREAMGRAPH_LLM_API_KEY` / `STREAMGRAPH_LLM_BASE_URL`),
the response agent has it phrase the answer. The router is visited at most 8 times per
question; past that the error handler answers.

In process: `python -m topologies.trip_planner`. On Kafka: `streamgraph worker
topologies.trip_planner` and `streamgraph gateway topologies.trip_planner`, then
the curl line in docs/examples.md.
"""

from __future__ import annotations

from typing import Any

import streamgraph as sg
from agents.llm_config import configured_llm_url
from agents.trip_agents import (
    ROUTER_LIMIT,
    ResponseAgent,
    RouterAgent,
    TripErrorHandler,
    TripPlannerAgent,
    WeatherAgent,
)
from streamgraph.engines.kafka import lazy_app

NAMESPACE = {
    "RouterAgent": RouterAgent,
    "WeatherAgent": WeatherAgent,
    "TripPlannerAgent": TripPlannerAgent,
    "ResponseAgent": ResponseAgent,
    "TripErrorHandler": TripErrorHandler,
}

DEMO_REQUESTS: list[dict[str, Any]] = [
    {"path": "/", "body": {"question": "What's the weather in Oslo on 2025-01-10?"}},
    {"path": "/", "body": {"question": "What should I see in Rome? I have 2 days."}},
    {
        "path": "/",
        "body": {"question": "Plan a trip to Paris from 2025-10-10 to 2025-10-12. Weather?"},
    },
    {"path": "/", "body": {"question": "Kyoto or Paris in November: what is the weather like?"}},
    {
        "path": "/",
        "body": {"question": "Plan trips to Lisbon, Paris, Rome and Oslo on 2025-05-01."},
    },
    {"path": "/", "body": {"question": "Plan a weekend somewhere warm."}},
]


def build_function(llm_url: str | None = None) -> sg.ServingFunction:
    """`llm_url` (e.g. `scripted://...`) overrides the configured LLM of the response agent."""
    llm_url = llm_url or configured_llm_url()
    function = sg.new_function("trip-planner", namespace=NAMESPACE)
    graph = function.set_topology("flow", engine="async", allow_cyclic=True, max_iterations=100)
    router = graph.to(name="router", class_name="RouterAgent", max_iterations=ROUTER_LIMIT)
    router.to(name="weather", class_name="WeatherAgent", cycle_to=["router"])
    router.to(name="planner", class_name="TripPlannerAgent", cycle_to=["router"])
    router.to(name="response", class_name="ResponseAgent", llm_url=llm_url).respond()
    graph.error_handler(name="apologise", class_name="TripErrorHandler", full_event=True)
    return function


function = build_function()
__getattr__ = lazy_app(__name__)  # `app`, the Faust app, built on first use (faust -A)


def main() -> None:
    from topologies._demo import run_demo

    run_demo(function, DEMO_REQUESTS)


if __name__ == "__main__":
    main()
