"""The guide's "serving function using Kafka queue and serving child function".

The parent prints the event, extends it, prints it again and puts it on a Kafka queue
(`">>"`); the child function `log-ds` reads that queue, saves the records to a JSON-lines
file (`STREAMGRAPH_EXAMPLE_LOG_DS_PATH`, default `examples/log-ds.jsonl` in streamgraph's
per-user state folder, never the current folder) and prints them. On Kafka they are two
workers:

    streamgraph worker topologies.queue_child                    # the parent
    streamgraph worker topologies.queue_child --function log-ds  # the child
    streamgraph gateway topologies.queue_child --port 8080
    curl -X POST localhost:8080/ -H 'Content-Type: application/json' \
      -d '{"records": [{"int": 2, "x2": 4}]}'

In process (`python -m topologies.queue_child`) both run together.
"""

from __future__ import annotations

from typing import Any

import agents.log_dataset
import streamgraph as sg
from agents.log_dataset import print_event, print_event_log, save_record
from streamgraph.engines.kafka import lazy_app
from streamgraph.settings import Settings

DEMO_REQUESTS: list[dict[str, Any]] = [
    {"path": "/", "body": {"records": [{"int": 2, "x2": 2 * 2}]}},
    {"path": "/", "body": {"records": [{"int": i, "x2": i * i} for i in range(3, 6)]}},
]

NAMESPACE = {
    "print_event": print_event,
    "save_record": save_record,
    "print_event_log": print_event_log,
}


def build_function(settings: Settings | None = None) -> sg.ServingFunction:
    settings = settings or Settings()
    fn_serving = sg.new_function("queue-child", namespace=NAMESPACE)
    topic_out = settings.topic(fn_serving.name, "output-stream")  # the queue's topic
    brokers = settings.brokers

    # --- the guide's code (the child's code file is agents/log_dataset.py) ---
    graph = fn_serving.set_topology("flow", engine="async")
    # The guide names the child "nuclio-log-ds" but its steps say function="log-ds"; a step
    # must name a declared child function (else: "function log-ds is used in steps and is not
    # defined"), so the child is named "log-ds" here, as its steps call it.
    fn_child = fn_serving.add_child_function("log-ds", agents.log_dataset.__file__, "mlrun/mlrun")

    graph.to(name="PrintEvent", handler="print_event").to(
        name="ExtendEvent", class_name="storey.Extend", _fn='({"extend": "something"})'
    ).to(name="PrintExEvent", handler="print_event").to(
        ">>", "OutputStream", path=topic_out, kafka_brokers=brokers
    ).to(name="Log-ds", function="log-ds", handler="save_record").to(
        name="PrintEventLog", handler="print_event_log", function="log-ds"
    )
    assert fn_child.name == "log-ds"
    return fn_serving


function = build_function()
__getattr__ = lazy_app(__name__)  # `app`, the Faust app, built on first use (faust -A)


def main() -> None:
    from agents.config import ExampleSettings
    from topologies._demo import run_demo

    run_demo(function, DEMO_REQUESTS)
    print(f"records saved to {ExampleSettings().log_ds_path.resolve()}")


if __name__ == "__main__":
    main()
