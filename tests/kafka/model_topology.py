"""A ModelRunnerStep whose two proxies share one dedicated_process model (model worker tests).

The model answers with the process it ran in and the proxy (endpoint, artifact) that called it,
so a test can tell a model worker's answer from one computed in the step worker.
"""

from __future__ import annotations

import os
from typing import Any

import streamgraph as sg
from streamgraph.engines.kafka import lazy_app
from streamgraph.serving.artifacts import Artifact, ModelArtifact


class Doubler(sg.Model):
    """Doubles `n`; says where it ran and for which proxy."""

    def predict(self, body: Any, **kwargs: Any) -> Any:
        return {"n2": body["n"] * 2}

    def run(
        self, body: Any, origin_name: str | None = None, artifact: Artifact | None = None
    ) -> Any:
        return {
            **self.predict(body),
            "pid": os.getpid(),
            "endpoint": origin_name,
            "artifact": getattr(artifact, "key", None),
        }


class ByParity(sg.ModelSelector):
    def select_models(self, event: Any, available_models: list[str]) -> list[str]:
        return ["even_endpoint" if event["n"] % 2 == 0 else "odd_endpoint"]


def build_function() -> sg.ServingFunction:
    fn = sg.new_function("models", namespace={"Doubler": Doubler, "ByParity": ByParity})
    graph = fn.set_topology("flow", engine="async")
    assert isinstance(graph, sg.RootFlowStep)
    runner = sg.ModelRunnerStep(name="runner", model_selector="ByParity")
    graph.add_shared_model(
        name="doubler",
        execution_mechanism="dedicated_process",
        model_class="Doubler",
        model_artifact=ModelArtifact("doubler-model"),
    )
    for parity in ("even", "odd"):
        runner.add_shared_model_proxy(
            endpoint_name=f"{parity}_endpoint",
            model_artifact=ModelArtifact(f"{parity}-artifact"),
            shared_model_name="doubler",
        )
    graph.to(runner).respond()
    return fn


function = build_function()
__getattr__ = lazy_app(__name__)  # `app`: the Faust app, built on first use
