"""The guide's "simple model serving router": two scikit-learn models behind the V2 protocol.

Run it in process: `python -m topologies.router`. On Kafka: `faust -A topologies.router worker`
(or `streamgraph worker topologies.router`) with `streamgraph gateway topologies.router`, then
the curl line in docs/examples.md.

The models are iris classifiers trained at first use into `STREAMGRAPH_EXAMPLE_MODELS_DIR`
(agents/iris_models.py); the guide's `{model1 - url}` placeholders become their paths.
"""

from __future__ import annotations

from typing import Any

import streamgraph as sg
from agents.iris_models import iris_model_paths
from streamgraph.engines.kafka import lazy_app

SETOSA, VIRGINICA = [5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]

DEMO_REQUESTS: list[dict[str, Any]] = [
    {"path": "/v2/models/", "method": "GET"},
    {"path": "/v2/models/model1/infer", "body": {"inputs": [SETOSA, VIRGINICA]}},
    {"path": "/v2/models/model2/infer", "body": {"inputs": [SETOSA, VIRGINICA]}},
    {"path": "/v2/models/model3/infer", "body": {"inputs": [SETOSA]}},  # no such model: 404
]


def build_function() -> sg.ServingFunction:
    paths = iris_model_paths()
    model1_url, model2_url = str(paths["model1"]), str(paths["model2"])

    # --- the guide's code (deploy/invoke left out: they run on a cluster) ---
    # load the sklearn model serving function and add models to it
    fn = sg.import_function("hub://v2_model_server")
    fn.add_model("model1", model_path=model1_url)
    fn.add_model("model2", model_path=model2_url)
    return fn


function = build_function()
__getattr__ = lazy_app(__name__)  # `app`, the Faust app, built on first use (faust -A)


def main() -> None:
    from topologies._demo import run_demo

    run_demo(function, DEMO_REQUESTS)


if __name__ == "__main__":
    main()
