"""The guide's streaming serving function: a step that yields chunks, relayed as chunked HTTP.

In process: `python -m topologies.streaming`. On Kafka: `streamgraph worker topologies.streaming`
and `streamgraph gateway topologies.streaming`, then
`curl -N -X POST localhost:8080/ -H 'Content-Type: text/plain' -d hello` prints
each chunk as it is produced.
Chunks and delay: `STREAMGRAPH_EXAMPLE_STREAM_CHUNKS`, `STREAMGRAPH_EXAMPLE_STREAM_DELAY_SECONDS`.
"""

from __future__ import annotations

from typing import Any

import agents.streaming_step
import streamgraph as sg
from streamgraph.engines.kafka import lazy_app

DEMO_REQUESTS: list[dict[str, Any]] = [{"path": "/", "body": "hello"}]

# the guide's `%%writefile streaming_step.py`: the step's code is agents/streaming_step.py
STEP_FILE = agents.streaming_step.__file__


def build_function() -> sg.ServingFunction:
    # --- the guide's code (its project and deploy() are for a cluster) ---
    fn = sg.code_to_function(
        name="streaming-fn",
        kind="serving",
        filename=STEP_FILE,
    )

    graph = fn.set_topology("flow", engine="async")
    graph.to(name="streamer", class_name="StreamingStep").respond()

    fn.set_streaming(enabled=True)
    return fn


function = build_function()
__getattr__ = lazy_app(__name__)  # `app`, the Faust app, built on first use (faust -A)


def main() -> None:
    from topologies._demo import run_demo

    run_demo(function, DEMO_REQUESTS)


if __name__ == "__main__":
    main()
