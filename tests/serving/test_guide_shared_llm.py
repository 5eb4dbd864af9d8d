"""The guide's "ModelRunnerStep with proxy models for a shared model" example, end to end.

The graph code is the guide's, changed only in its imports and in the artifacts it is given
(local prompt artifacts over a scripted LLM provider instead of project-logged ones).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import streamgraph as sg
from streamgraph.serving.artifacts import LLMPromptArtifact, ModelArtifact
from streamgraph.testing import serve

ModelRunnerStep = sg.ModelRunnerStep
ModelEndpointCreationStrategy = sg.ModelEndpointCreationStrategy


class MyModelSelector(sg.ModelSelector):
    """Finance questions go to the finance prompt, the rest to the sport prompt."""

    def select_models(self, event: Any, available_models: list[str]) -> list[str]:
        topic = event.get("topic") if isinstance(event, dict) else None
        return ["finance_endpoint" if topic == "finance" else "sport_endpoint"]


def _artifacts(folder: Path) -> tuple[ModelArtifact, LLMPromptArtifact, LLMPromptArtifact]:
    model_artifact = ModelArtifact("shared-llm", model_url="scripted://echo")
    finance = LLMPromptArtifact(
        "finance-prompt",
        model_artifact=model_artifact,
        prompt_template=[
            {"role": "system", "content": "You are a finance analyst."},
            {"role": "user", "content": "finance: {question}"},
        ],
        prompt_legend={"question": {"field": "text", "description": "the user's question"}},
    )
    sport = LLMPromptArtifact(
        "sport-prompt",
        model_artifact=model_artifact,
        prompt_template=[{"role": "user", "content": "sport: {question}"}],
        prompt_legend={"question": {"field": "text", "description": "the user's question"}},
    )
    return model_artifact, finance, sport


def build(folder: Path, mechanism: str = "dedicated_process") -> sg.ServingFunction:
    model_artifact, finance_llm_prompt_artifact, sport_llm_prompt_artifact = _artifacts(folder)
    function = sg.new_function("open-ai-tut", namespace={"MyModelSelector": MyModelSelector})
    graph = function.set_topology("flow", engine="async")
    assert isinstance(graph, sg.RootFlowStep)

    model_runner_step = ModelRunnerStep(name="model_runner_step", model_selector="MyModelSelector")

    graph.add_shared_model(
        name="shared_llm",
        execution_mechanism=mechanism,
        model_class="LLModel",
        model_artifact=model_artifact,
        result_path="outputs",
    )

    model_runner_step.add_shared_model_proxy(
        endpoint_name="finance_endpoint",
        model_artifact=finance_llm_prompt_artifact,
        shared_model_name="shared_llm",
        model_endpoint_creation_strategy=ModelEndpointCreationStrategy.OVERWRITE,
    )
    model_runner_step.add_shared_model_proxy(
        endpoint_name="sport_endpoint",
        model_artifact=sport_llm_prompt_artifact,
        shared_model_name="shared_llm",
        model_endpoint_creation_strategy=ModelEndpointCreationStrategy.OVERWRITE,
    )

    graph.to(model_runner_step).respond()
    return function


@pytest.mark.parametrize("mechanism", ["dedicated_process", "naive"])
def test_each_proxy_fills_its_own_prompt_on_the_one_shared_model(
    tmp_path: Path, engine: str, mechanism: str
) -> None:
    function = build(tmp_path, mechanism)
    server = serve(function, engine=engine, namespace={"MyModelSelector": MyModelSelector})
    finance = server.test(body={"topic": "finance", "text": "is gold up?"})
    sport = server.test(body={"topic": "sport", "text": "who won?"})
    # a runner of several models answers {endpoint: result} for the selected ones (as MLRun)
    assert list(finance) == ["finance_endpoint"]
    assert finance["finance_endpoint"]["outputs"]["answer"] == "finance: is gold up?"
    assert sport["sport_endpoint"]["outputs"]["answer"] == "sport: who won?"
    assert finance["finance_endpoint"]["outputs"]["usage"] == {
        "prompt_tokens": 9,
        "completion_tokens": 4,
    }
    server.wait_for_completion()


def test_a_proxy_to_an_undeclared_shared_model_is_refused_when_built(tmp_path: Path) -> None:
    _, finance, _ = _artifacts(tmp_path)
    function = sg.new_function("bad-proxy")
    graph = function.set_topology("flow", engine="async")
    runner = ModelRunnerStep(name="runner")
    runner.add_shared_model_proxy(
        endpoint_name="finance_endpoint", model_artifact=finance, shared_model_name="nope"
    )
    graph.to(runner).respond()
    with pytest.raises(sg.GraphError, match="nope"):
        function.to_mock_server()


def test_the_endpoint_registry_is_readable_from_the_server(tmp_path: Path) -> None:
    server = build(tmp_path, "naive").to_mock_server(namespace={"MyModelSelector": MyModelSelector})
    server.test(body={"topic": "finance", "text": "a"})
    server.test(body={"topic": "finance", "text": "b"})
    server.test(body={"topic": "sport", "text": "c"})
    registry = server.context.endpoints
    finance = registry.get("finance_endpoint")
    assert finance is not None and finance.stats.requests == 2
    assert registry.get("sport_endpoint").stats.requests == 1
    assert finance.strategy is ModelEndpointCreationStrategy.OVERWRITE
    server.wait_for_completion()
